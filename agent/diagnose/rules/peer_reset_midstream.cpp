// peer-reset-midstream: the server end aborted established connections (a crash, a restart, an
// application that closes with SO_LINGER 0, a proxy timing out a request).
#include <algorithm>
#include <map>
#include <set>

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
    f.severity = failure_severity(t);
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
    // Per peer the capture counts resets by sender, not by phase: the probes' own refusals (RST
    // answering SYN, phase handshake) are taken out so they are not shown as established resets.
    std::map<std::string, std::uint64_t> refused_at;
    for (const TargetObservation& t : o.targets) {
      const auto refused =
          attempts(t, active::Outcome::kRefused) +
          t.keep_alive_counts.attempts[active::index_of(active::Outcome::kRefused)];
      if (refused == 0) continue;
      std::set<std::string> addresses;
      for (const auto& a : t.probes.addresses) addresses.insert(address_of(a));
      for (const auto& a : addresses) refused_at[a] += refused;
    }
    std::vector<std::pair<std::string, std::uint64_t>> by_server;
    for (const auto& p : o.passive.peers) {
      std::uint64_t n = p.by_sender[passive::index_of(passive::ResetSender::kServer)];
      const auto refused = refused_at.find(p.peer);
      if (refused != refused_at.end()) n = n > refused->second ? n - refused->second : 0;
      if (n > 0) by_server.emplace_back(p.peer, n);
    }
    std::stable_sort(by_server.begin(), by_server.end(),
                     [](const auto& a, const auto& b) { return a.second > b.second; });
    nlohmann::json peers = nlohmann::json::array();
    std::string top;
    for (const auto& [peer, n] : by_server) {
      peers.push_back({{"peer", peer}, {"resets", n}});
      if (top.empty()) top = peer;
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
