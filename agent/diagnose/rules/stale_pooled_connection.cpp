// stale-pooled-connection: the server closes idle keep-alive connections sooner than the client
// pool stops reusing them, so a request sent on a pooled connection races the server's FIN and
// meets an RST or an EOF (TCP-NOTES §5).
#include <algorithm>
#include <chrono>
#include <cmath>

#include "agent/diagnose/format.h"
#include "agent/diagnose/rules.h"
#include "agent/diagnose/rules/common.h"

namespace connwatch::agent::diagnose {

namespace {

// A client idle timeout safely below the server's: a second under it, or half of a short one.
std::chrono::milliseconds suggested_idle_timeout(double server_seconds) {
  const double s = server_seconds >= 2 ? server_seconds - 1 : server_seconds / 2;
  const auto ms = static_cast<long long>(std::floor(s * 10)) * 100;  // round down to 100 ms
  return std::chrono::milliseconds(std::max<long long>(ms, 100));
}

// A peer that closes within this of going idle does not keep connections alive at all (it
// closes or resets after every response): no idle timeout can be below that, and
// peer-reset-midstream or the server's own config is the story.
constexpr double kMinIdleClose = 0.1;

}  // namespace

std::vector<Finding> stale_pooled_connection(const Observations& o) {
  std::vector<Finding> out;
  for (const TargetObservation& t : o.targets) {
    const double idle_timeout = std::chrono::duration<double>(t.config.pool.idle_timeout).count();
    // The shortest idle lifetime the server showed: measured, or announced in Keep-Alive.
    std::optional<double> server_idle = t.peer_idle_close_seconds;
    if (const auto& pc = t.probes.counts.peer_idle_close_seconds) {
      server_idle = server_idle ? std::min(*server_idle, *pc) : *pc;
    }
    if (server_idle && *server_idle < kMinIdleClose) server_idle.reset();
    std::optional<double> announced;
    if (t.server_keep_alive) announced = static_cast<double>(t.server_keep_alive->count());
    const std::uint64_t stale = t.probes.counts.stale_resets;
    const std::optional<double> shortest = server_idle && announced
                                               ? std::min(*server_idle, *announced)
                                               : (server_idle ? server_idle : announced);
    const bool shorter = shortest && *shortest < idle_timeout;
    if (!shorter && stale == 0) continue;

    Finding f;
    // The pool is connwatch's own probe pool: a warning only when a probe failed for it; when
    // resends and retries hid every stale connection, no request failed and it is info.
    const std::uint64_t failed =
        attempts(t, active::Outcome::kReset) + attempts(t, active::Outcome::kClosedEarly);
    f.severity = failed > 0 && failed_probes(t) > 0 ? Severity::kWarning : Severity::kInfo;
    f.evidence = {{"target", t.config.name},
                  {"pool_idle_timeout_seconds", idle_timeout},
                  {"server_idle_close_seconds",
                   server_idle ? nlohmann::json(*server_idle) : nlohmann::json(nullptr)},
                  {"server_keep_alive_seconds",
                   announced ? nlohmann::json(*announced) : nlohmann::json(nullptr)},
                  {"stale_resends", stale},
                  {"requests_reused", t.probes.counts.requests_reused}};
    if (shorter) {
      const auto suggested = suggested_idle_timeout(*shortest);
      f.summary = t.config.name + ": server closes idle connections after " + seconds(*shortest) +
                  "; connwatch's probe pool keeps them " + seconds(idle_timeout);
      if (stale > 0) {
        f.summary += ", and " + plural(stale, "reused connection was", "reused connections were") +
                     " already closed";
      }
      f.evidence["suggested_idle_timeout"] = config_duration(suggested);
      f.recommendation =
          "set idle_timeout below " + seconds(*shortest) + " (idle_timeout = \"" +
          config_duration(suggested) + "\" for target " + t.config.name +
          " in connwatch's config), or raise the server's keep-alive timeout above " +
          seconds(idle_timeout) +
          "; clients of this server whose pools keep idle connections longer than " +
          seconds(*shortest) + " meet the same closed connections";
    } else {
      f.summary =
          t.config.name + ": " +
          plural(stale, "request on a reused connection", "requests on reused connections") +
          " found it closed by the peer (connwatch's probe pool resent them)";
      f.recommendation =
          "the server closes pooled connections the client still reuses: lower "
          "idle_timeout for " +
          t.config.name +
          " below the server's keep-alive timeout, and retry idempotent requests "
          "that fail on a reused connection";
    }
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace connwatch::agent::diagnose
