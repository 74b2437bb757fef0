// dns-resolution-failed: a target's name did not resolve (dns_error attempts): a typo in the host
// name, a record that was removed, or a resolver that does not answer.
#include "agent/diagnose/rules.h"
#include "agent/diagnose/rules/common.h"

namespace connwatch::agent::diagnose {

std::vector<Finding> dns_resolution_failed(const Observations& o) {
  std::vector<Finding> out;
  for (const TargetObservation& t : o.targets) {
    const std::uint64_t failed = attempts(t, active::Outcome::kDnsError);
    if (failed == 0) continue;
    const std::string error = errors_text(t, active::Outcome::kDnsError);
    Finding f;
    f.severity = failure_severity(t);
    f.summary = t.config.name + ": " + of_attempts(failed, attempts(t)) + " could not resolve " +
                t.config.url.host + (error.empty() ? "" : " (" + error + ")");
    f.evidence = {{"target", t.config.name},
                  {"host", t.config.url.host},
                  {"dns_error", failed},
                  {"attempts", attempts(t)},
                  {"errors", errors_json(t, active::Outcome::kDnsError)}};
    f.recommendation = "check the spelling of " + t.config.url.host +
                       " in the target's url, that the record exists (`getent hosts " +
                       t.config.url.host + "`), and that the resolvers in /etc/resolv.conf answer";
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace connwatch::agent::diagnose
