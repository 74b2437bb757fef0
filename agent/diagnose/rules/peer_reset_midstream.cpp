// peer-reset-midstream: the server end aborted established connections (a crash, a restart, an
// application that closes with SO_LINGER 0, a proxy timing out a request).
#include <algorithm>

#include "agent/diagnose/format.h"
#include "agent/diagnose/rules.h"
#include "agent/diagnose/rules/common.h"

namespace connwatch::agent::diagnose {

std::vector<Finding> peer_reset_midstream(const Observations& o) {
  std::vector<Finding> out;
  for (const TargetObservation& t : o.targets) {
    const std::uint64_t resets = attempts(t, active::Outcome::kReset);
    if (resets == 0) continue;
    const std::uint64_t total = attempts(t);
    Finding f;
    f.severity = resets == total ? Severity::kCritical : Severity::kWarning;
    f.summary = t.config.name + ": " + count(resets) + " of " +
                plural(total, "attempt", "attempts") + " reset by " + t.config.url.authority() +
                " after the connection was established";
    f.evidence = {{"target", t.config.name},
                  {"destination", t.config.url.authority()},
                  {"reset", resets},
                  {"attempts", total},
                  {"stale_resends", t.probes.counts.stale_resets}};
    f.recommendation =
        "the server aborts requests: check its logs for crashes, restarts or "
        "request timeouts, and any proxy in front of it; retries of idempotent "
        "requests hide this from users but not from the server";
    out.push_back(std::move(f));
  }

  // Resets of established connections sent by the server end, host-wide.
  const std::uint64_t server =
      o.passive.resets[passive::index_of(passive::ResetSender::kServer)]
                      [passive::index_of(passive::ResetPhase::kEstablished)];
  if (o.capture_up && server > 0) {
    nlohmann::json peers = nlohmann::json::array();
    std::vector<passive::PeerResets> by_server = o.passive.peers;
    std::erase_if(by_server, [](const passive::PeerResets& p) {
      return p.by_sender[passive::index_of(passive::ResetSender::kServer)] == 0;
    });
    std::sort(by_server.begin(), by_server.end(), [](const auto& a, const auto& b) {
      const auto s = passive::index_of(passive::ResetSender::kServer);
      return a.by_sender[s] > b.by_sender[s];
    });
    std::string top;
    for (const auto& p : by_server) {
      const auto n = p.by_sender[passive::index_of(passive::ResetSender::kServer)];
      peers.push_back({{"peer", p.peer}, {"resets", n}});
      if (top.empty()) top = p.peer;
    }
    Finding f;
    f.severity = Severity::kWarning;
    f.summary = plural(server, "established connection", "established connections") +
                " reset by the server end in " + seconds(o.duration_seconds) +
                (top.empty() ? "" : ", most by " + top);
    f.evidence = {{"server_resets_established", server},
                  {"per_second", per_second(server, o.duration_seconds)},
                  {"peers", peers}};
    f.recommendation = "check the server" + (top.empty() ? std::string() : " " + top) +
                       " for crashes, restarts, request or idle timeouts that abort, and "
                       "SO_LINGER 0 closes; a load balancer in between can also do this";
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace connwatch::agent::diagnose
