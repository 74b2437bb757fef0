// connection-refused: an RST answered a SYN. Nothing listens on that address and port, or a
// firewall rejects the connection (REJECT --reject-with tcp-reset looks the same).
#include "agent/diagnose/format.h"
#include "agent/diagnose/rules.h"
#include "agent/diagnose/rules/common.h"

namespace connwatch::agent::diagnose {

std::vector<Finding> connection_refused(const Observations& o) {
  std::vector<Finding> out;
  std::uint64_t target_refusals = 0;
  for (const TargetObservation& t : o.targets) {
    const std::uint64_t refused = attempts(t, active::Outcome::kRefused);
    target_refusals +=
        refused + t.keep_alive_counts.attempts[active::index_of(active::Outcome::kRefused)];
    if (refused == 0) continue;
    const std::uint64_t total = attempts(t);
    Finding f;
    f.severity = failure_severity(t);
    f.summary = t.config.name + ": " + count(refused) + " of " +
                plural(total, "connect", "connects") + " to " + t.config.url.authority() +
                " refused (RST in answer to SYN)";
    f.evidence = {{"target", t.config.name},
                  {"destination", t.config.url.authority()},
                  {"refused", refused},
                  {"attempts", total}};
    f.recommendation = "nothing accepts connections on " + t.config.url.authority() +
                       ": check that the service is running and listening on that address and "
                       "port, and that no firewall rejects it";
    out.push_back(std::move(f));
  }

  const std::uint64_t on_wire = o.passive.resets_by_phase(passive::ResetPhase::kHandshake);
  // The probes' own refusals are on the wire too; raise a host-wide finding only for the rest.
  // Each probe stream (a target and its keep-alive measurement) may have one attempt refused on
  // the wire whose result the end of the run cut off: that many are not evidence of another client.
  const std::uint64_t in_flight = 2 * o.targets.size();
  if (o.capture_up && on_wire > target_refusals + in_flight) {
    const std::uint64_t others = on_wire - target_refusals;
    Finding f;
    f.severity = Severity::kWarning;
    f.summary = plural(others, "connection attempt", "connection attempts") +
                " refused on the wire in " + seconds(o.duration_seconds) + " (RST answering SYN)";
    f.evidence = {{"refused_on_wire", on_wire},
                  {"refused_by_probes", target_refusals},
                  {"per_second", per_second(others, o.duration_seconds)}};
    f.recommendation =
        "a client here connects to a port where nothing listens: find it with "
        "`ss -tanp state syn-sent` or the connwatch_tcp_peer_resets_total peers, and fix its "
        "address or start the service";
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace connwatch::agent::diagnose
