#include "agent/diagnose/limits.h"

#include <cmath>

#include "agent/diagnose/format.h"

namespace connwatch::agent::diagnose {

namespace {

// Beyond the pool's idle timeout: the first request and the probes' start take a moment.
constexpr int kMarginSeconds = 5;

}  // namespace

std::vector<RunLimit> run_limits(const Observations& o) {
  std::vector<RunLimit> out;
  for (const TargetObservation& t : o.targets) {
    if (t.config.url.scheme == config::Scheme::kTcp) continue;
    if (t.peer_idle_close_seconds || t.probes.counts.peer_idle_close_seconds) continue;
    if (!t.idle_watched_seconds) continue;
    // A target whose every request failed has a bigger problem than its idle connections.
    if (t.probes.counts.attempts[active::index_of(active::Outcome::kSuccess)] == 0) continue;
    const double idle_timeout = std::chrono::duration<double>(t.config.pool.idle_timeout).count();
    if (t.server_keep_alive && static_cast<double>(t.server_keep_alive->count()) < idle_timeout) {
      continue;  // announced shorter: stale-pooled-connection says so already
    }
    if (*t.idle_watched_seconds >= idle_timeout) continue;
    RunLimit l;
    l.check = "idle-close";
    l.target = t.config.name;
    l.seen_seconds = *t.idle_watched_seconds;
    l.needs_seconds = idle_timeout;
    l.suggested_duration_seconds = static_cast<int>(std::ceil(idle_timeout)) + kMarginSeconds;
    l.text = t.config.name + ": the server kept an idle connection open to the end of the run (" +
             seconds(l.seen_seconds) + "); connwatch's probe pool keeps idle connections " +
             seconds(idle_timeout) + ", so a server closing them between " +
             seconds(l.seen_seconds) + " and " + seconds(idle_timeout) +
             " (stale-pooled-connection) was not seen: run with --duration " +
             std::to_string(l.suggested_duration_seconds) + " to check";
    out.push_back(std::move(l));
  }
  return out;
}

}  // namespace connwatch::agent::diagnose
