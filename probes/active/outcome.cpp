#include "probes/active/outcome.h"

namespace connwatch::active {

std::string_view to_string(Outcome outcome) {
  switch (outcome) {
    case Outcome::kSuccess:
      return "success";
    case Outcome::kReset:
      return "reset";
    case Outcome::kRefused:
      return "refused";
    case Outcome::kTimeout:
      return "timeout";
    case Outcome::kDnsError:
      return "dns_error";
    case Outcome::kAddrNotAvailable:
      return "addr_not_available";
    case Outcome::kFdExhausted:
      return "fd_exhausted";
    case Outcome::kTlsError:
      return "tls_error";
    case Outcome::kHttpStatus:
      return "http_status";
    case Outcome::kBodyMismatch:
      return "body_mismatch";
    case Outcome::kClosedEarly:
      return "closed_early";
    case Outcome::kOther:
      return "other";
  }
  return "other";
}

std::optional<Outcome> outcome_from_string(std::string_view text) {
  for (const Outcome outcome : kAllOutcomes) {
    if (to_string(outcome) == text) return outcome;
  }
  return std::nullopt;
}

std::string_view to_string(ProbeResult result) {
  switch (result) {
    case ProbeResult::kFirstTry:
      return "first_try";
    case ProbeResult::kAfterRetry:
      return "after_retry";
    case ProbeResult::kExhausted:
      return "exhausted";
    case ProbeResult::kNotRetryable:
      return "not_retryable";
    case ProbeResult::kBudgetDenied:
      return "budget_denied";
  }
  return "exhausted";
}

std::string_view to_string(Phase phase) {
  switch (phase) {
    case Phase::kResolve:
      return "resolve";
    case Phase::kConnect:
      return "connect";
    case Phase::kTls:
      return "tls";
    case Phase::kProcessing:
      return "processing";
    case Phase::kTransfer:
      return "transfer";
  }
  return "processing";
}

}  // namespace connwatch::active
