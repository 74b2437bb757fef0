// A finding of `agent --diagnose` (SPEC §5): what is wrong, how badly, the numbers that show it,
// and what to change. The id and severity strings are the JSON values.
#pragma once

#include <array>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

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
  kCaptureUnavailable,
  kPacketLoss,
};
inline constexpr std::array kAllFindingIds{
    FindingId::kEphemeralPortExhaustion,
    FindingId::kFdExhaustion,
    FindingId::kConnectionRefused,
    FindingId::kPeerResetMidstream,
    FindingId::kMiddleboxResetSuspected,
    FindingId::kStalePooledConnection,
    FindingId::kProbeTimeouts,
    FindingId::kTimeWaitAccumulation,
    FindingId::kDnsAddressChanged,
    FindingId::kListenOverflow,
    FindingId::kLocalAbortUnreadData,
    FindingId::kCaptureUnavailable,
    FindingId::kPacketLoss,
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
};

nlohmann::json to_json(const Finding& finding);

// Worst first; equal severities in kAllFindingIds order (the likelier root cause first).
bool worse(const Finding& a, const Finding& b);

}  // namespace connwatch::agent::diagnose
