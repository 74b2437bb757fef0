// A finding of `agent --diagnose` (SPEC §5): what is wrong, how badly, the numbers that show it,
// and what to change. The id and severity strings are the JSON values.
#pragma once

#include <array>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace connwatch::agent::diagnose {

enum class FindingId {
  kEphemeralPortExhaustion,
  kFdExhaustion,
  kConnectionRefused,
  kPeerResetMidstream,
  kMiddleboxResetSuspected,
  kStalePooledConnection,
  kProbeTimeouts,
  kTimeWaitAccumulation,
  kDnsAddressChanged,
  kListenOverflow,
  kLocalAbortUnreadData,
  kDnsResolutionFailed,
  kTlsHandshakeFailed,
  kHttpErrorStatus,
  kClosedWithoutResponse,
  kPortReuseChurn,
  kCaptureUnavailable,
  kPacketLoss,
};
inline constexpr std::array kAllFindingIds{
    FindingId::kEphemeralPortExhaustion, FindingId::kFdExhaustion,
    FindingId::kConnectionRefused,       FindingId::kPeerResetMidstream,
    FindingId::kMiddleboxResetSuspected, FindingId::kStalePooledConnection,
    FindingId::kProbeTimeouts,           FindingId::kTimeWaitAccumulation,
    FindingId::kDnsAddressChanged,       FindingId::kListenOverflow,
    FindingId::kLocalAbortUnreadData,    FindingId::kDnsResolutionFailed,
    FindingId::kTlsHandshakeFailed,      FindingId::kHttpErrorStatus,
    FindingId::kClosedWithoutResponse,   FindingId::kPortReuseChurn,
    FindingId::kCaptureUnavailable,      FindingId::kPacketLoss,
};
// "stale-pooled-connection", ...
std::string_view to_string(FindingId id);

enum class Severity { kInfo, kWarning, kCritical };
std::string_view to_string(Severity severity);

struct Finding {
  FindingId id = FindingId::kCaptureUnavailable;
  Severity severity = Severity::kInfo;
  std::string summary;         // one line, with the numbers
  nlohmann::json evidence;     // an object: the numbers that triggered it
  std::string recommendation;  // the concrete fix
  // Filled by merge(): the summary line of every subject after the first (one per target or
  // destination), shown under the summary in the text report.
  std::vector<std::string> more;
};

nlohmann::json to_json(const Finding& finding);

// SPEC §5: one id appears once per run. Findings of one id (a rule raises one per target or
// destination) become one: the worst severity, the worst subject's summary and numbers at the top
// of `evidence` (keys only other subjects have are added), every subject's evidence with its
// summary in evidence["subjects"] when there are several, the others' summaries in `more`, and
// their distinct recommendations appended. Input in any order; output in kAllFindingIds order.
std::vector<Finding> merge(std::vector<Finding> findings);

// Worst first; equal severities in kAllFindingIds order (the likelier root cause first).
bool worse(const Finding& a, const Finding& b);

}  // namespace connwatch::agent::diagnose
