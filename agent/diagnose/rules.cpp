#include "agent/diagnose/rules.h"

#include <algorithm>
#include <array>

namespace connwatch::agent::diagnose {

namespace {

// The one registration table: one line per finding id, in kAllFindingIds order.
constexpr std::array kRules{
    RuleEntry{FindingId::kEphemeralPortExhaustion, &ephemeral_port_exhaustion},
    RuleEntry{FindingId::kFdExhaustion, &fd_exhaustion},
    RuleEntry{FindingId::kConnectionRefused, &connection_refused},
    RuleEntry{FindingId::kPeerResetMidstream, &peer_reset_midstream},
    RuleEntry{FindingId::kMiddleboxResetSuspected, &middlebox_reset_suspected},
    RuleEntry{FindingId::kStalePooledConnection, &stale_pooled_connection},
    RuleEntry{FindingId::kProbeTimeouts, &probe_timeouts},
    RuleEntry{FindingId::kTimeWaitAccumulation, &time_wait_accumulation},
    RuleEntry{FindingId::kDnsAddressChanged, &dns_address_changed},
    RuleEntry{FindingId::kListenOverflow, &listen_overflow},
    RuleEntry{FindingId::kLocalAbortUnreadData, &local_abort_unread_data},
    RuleEntry{FindingId::kDnsResolutionFailed, &dns_resolution_failed},
    RuleEntry{FindingId::kTlsHandshakeFailed, &tls_handshake_failed},
    RuleEntry{FindingId::kHttpErrorStatus, &http_error_status},
    RuleEntry{FindingId::kClosedWithoutResponse, &closed_without_response},
    RuleEntry{FindingId::kPortReuseChurn, &port_reuse_churn},
    RuleEntry{FindingId::kCaptureUnavailable, &capture_unavailable},
    RuleEntry{FindingId::kPacketLoss, &packet_loss},
};
static_assert(kRules.size() == kAllFindingIds.size(), "one rule per finding id");

}  // namespace

std::span<const RuleEntry> all_rules() { return kRules; }

std::vector<Finding> evaluate(const Observations& o) {
  std::vector<Finding> findings;
  for (const RuleEntry& entry : kRules) {
    for (Finding& f : entry.rule(o)) {
      f.id = entry.id;
      findings.push_back(std::move(f));
    }
  }
  findings = merge(std::move(findings));
  std::stable_sort(findings.begin(), findings.end(), worse);
  return findings;
}

}  // namespace connwatch::agent::diagnose
