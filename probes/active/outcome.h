// The closed vocabularies of an active probe (SPEC §4): how one attempt ended, how a logical probe
// ended, and the phases an attempt is timed in. Each to_string() is the Prometheus label value.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string_view>

namespace connwatch::active {

// How one attempt ended: connwatch_probe_attempts_total{outcome}.
enum class Outcome {
  kSuccess,
  kReset,
  kRefused,
  kTimeout,
  kDnsError,
  kAddrNotAvailable,
  kFdExhausted,
  kTlsError,
  kHttpStatus,
  kBodyMismatch,  // the response body did not match the target's fail_if_body_not_matches
  kClosedEarly,
  kOther,
};
inline constexpr std::array kAllOutcomes{
    Outcome::kSuccess,      Outcome::kReset,       Outcome::kRefused,
    Outcome::kTimeout,      Outcome::kDnsError,    Outcome::kAddrNotAvailable,
    Outcome::kFdExhausted,  Outcome::kTlsError,    Outcome::kHttpStatus,
    Outcome::kBodyMismatch, Outcome::kClosedEarly, Outcome::kOther,
};
std::string_view to_string(Outcome outcome);
std::optional<Outcome> outcome_from_string(std::string_view text);

// How a logical probe (all its attempts) ended: connwatch_probe_results_total{result}.
enum class ProbeResult {
  kFirstTry,      // succeeded on the first attempt (a stale-connection resend does not count)
  kAfterRetry,    // succeeded after at least one retry
  kExhausted,     // failed on the last allowed attempt
  kNotRetryable,  // failed and may not be retried (a non-idempotent method, a 4xx answer)
  kBudgetDenied,  // failed and the retry budget refused the next retry
};
inline constexpr std::array kAllProbeResults{ProbeResult::kFirstTry, ProbeResult::kAfterRetry,
                                             ProbeResult::kExhausted, ProbeResult::kNotRetryable,
                                             ProbeResult::kBudgetDenied};
std::string_view to_string(ProbeResult result);

// The timed phases of one attempt: connwatch_probe_phase_duration_seconds{phase}. `connect` and
// `tls` exist only when the attempt opened a new connection, `resolve` only when it resolved.
enum class Phase { kResolve, kConnect, kTls, kProcessing, kTransfer };
inline constexpr std::array kAllPhases{Phase::kResolve, Phase::kConnect, Phase::kTls,
                                       Phase::kProcessing, Phase::kTransfer};
std::string_view to_string(Phase phase);

template <typename Enum>
constexpr std::size_t index_of(Enum value) {
  return static_cast<std::size_t>(value);
}

}  // namespace connwatch::active
