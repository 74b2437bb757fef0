// probe-timeouts: attempts that timed out while the peer never sent an RST: packets are dropped
// on the way (a firewall DROP rule, a security group, a host that is down), not rejected.
#include "agent/diagnose/format.h"
#include "agent/diagnose/rules.h"
#include "agent/diagnose/rules/common.h"

namespace connwatch::agent::diagnose {

namespace {

// Resets the capture saw from the target's addresses.
std::uint64_t resets_from(const Observations& o, const TargetObservation& t) {
  std::uint64_t n = 0;
  for (const auto& peer : o.passive.peers) {
    for (const std::string& address : t.probes.addresses) {
      if (peer.peer == address_of(address)) n += peer.total();
    }
  }
  return n;
}

}  // namespace

std::vector<Finding> probe_timeouts(const Observations& o) {
  std::vector<Finding> out;
  for (const TargetObservation& t : o.targets) {
    const std::uint64_t timeouts = attempts(t, active::Outcome::kTimeout);
    if (timeouts == 0) continue;
    const std::uint64_t total = attempts(t);
    const std::uint64_t resets = o.capture_up ? resets_from(o, t) : 0;
    const double connect_timeout =
        std::chrono::duration<double>(t.config.pool.connect_timeout).count();
    const double request_timeout =
        std::chrono::duration<double>(t.config.pool.request_timeout).count();
    Finding f;
    f.severity = failure_severity(t);
    f.summary = t.config.name + ": " + count(timeouts) + " of " +
                plural(total, "attempt", "attempts") + " to " + t.config.url.authority() +
                " timed out" +
                (o.capture_up ? (resets == 0 ? " with no RST from the peer" : "") : "");
    f.evidence = {{"target", t.config.name},
                  {"destination", t.config.url.authority()},
                  {"timeouts", timeouts},
                  {"attempts", total},
                  {"resets_from_peer", o.capture_up ? nlohmann::json(resets) : nlohmann::json()},
                  {"connect_timeout_seconds", connect_timeout},
                  {"request_timeout_seconds", request_timeout}};
    f.recommendation = "packets to " + t.config.url.authority() +
                       " are dropped, not rejected: look for a firewall DROP rule or security "
                       "group, a route, or a host that is down (`mtr -T -P " +
                       std::to_string(t.config.url.port) + " " + t.config.url.host +
                       "`); a server that is only slow needs a longer request_timeout (now " +
                       seconds(request_timeout) + ")";
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace connwatch::agent::diagnose
