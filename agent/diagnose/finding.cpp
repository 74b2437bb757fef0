#include "agent/diagnose/finding.h"

namespace connwatch::agent::diagnose {

std::string_view to_string(FindingId id) {
  switch (id) {
    case FindingId::kEphemeralPortExhaustion:
      return "ephemeral-port-exhaustion";
    case FindingId::kFdExhaustion:
      return "fd-exhaustion";
    case FindingId::kConnectionRefused:
      return "connection-refused";
    case FindingId::kPeerResetMidstream:
      return "peer-reset-midstream";
    case FindingId::kMiddleboxResetSuspected:
      return "middlebox-reset-suspected";
    case FindingId::kStalePooledConnection:
      return "stale-pooled-connection";
    case FindingId::kProbeTimeouts:
      return "probe-timeouts";
    case FindingId::kTimeWaitAccumulation:
      return "time-wait-accumulation";
    case FindingId::kDnsAddressChanged:
      return "dns-address-changed";
    case FindingId::kListenOverflow:
      return "listen-overflow";
    case FindingId::kLocalAbortUnreadData:
      return "local-abort-unread-data";
    case FindingId::kCaptureUnavailable:
      return "capture-unavailable";
    case FindingId::kPacketLoss:
      return "packet-loss";
  }
  return "unknown";
}

std::string_view to_string(Severity severity) {
  switch (severity) {
    case Severity::kInfo:
      return "info";
    case Severity::kWarning:
      return "warning";
    case Severity::kCritical:
      return "critical";
  }
  return "info";
}

nlohmann::json to_json(const Finding& f) {
  return {{"id", to_string(f.id)},
          {"severity", to_string(f.severity)},
          {"summary", f.summary},
          {"evidence", f.evidence.is_null() ? nlohmann::json::object() : f.evidence},
          {"recommendation", f.recommendation}};
}

bool worse(const Finding& a, const Finding& b) {
  if (a.severity != b.severity) return a.severity > b.severity;
  return a.id < b.id;
}

}  // namespace connwatch::agent::diagnose
