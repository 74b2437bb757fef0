// closed-without-response: the server closed the connection after the request without answering
// (closed_early): a crash in the request handler, a proxy that gave up on its backend, a server
// that does not speak HTTP on that port.
#include "agent/diagnose/rules.h"
#include "agent/diagnose/rules/common.h"

namespace connwatch::agent::diagnose {

std::vector<Finding> closed_without_response(const Observations& o) {
  std::vector<Finding> out;
  for (const TargetObservation& t : o.targets) {
    const std::uint64_t failed = attempts(t, active::Outcome::kClosedEarly);
    if (failed == 0) continue;
    Finding f;
    f.severity = failure_severity(t);
    f.summary = t.config.name + ": " + t.config.url.authority() + " closed " +
                of_attempts(failed, attempts(t)) + " after the request without answering";
    f.evidence = {{"target", t.config.name},
                  {"destination", t.config.url.authority()},
                  {"closed_early", failed},
                  {"attempts", attempts(t)},
                  {"stale_resends", t.probes.counts.stale_resets},
                  {"errors", errors_json(t, active::Outcome::kClosedEarly)}};
    f.recommendation = "the server at " + t.config.url.authority() +
                       " accepts the connection and reads the request, then closes: check its "
                       "logs for crashes or rejected requests, that it speaks " +
                       (t.config.url.scheme == config::Scheme::kHttps ? "HTTPS" : "HTTP") +
                       " on that port, and any proxy in front of it";
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace connwatch::agent::diagnose
