// port-reuse-churn: connections to one destination are opened faster than TIME_WAIT drains
// (usable local ports / 60 s) and the client survives only because connect() reuses TIME_WAIT
// sockets (net.ipv4.tcp_tw_reuse, counted in TcpExtTWRecycled): one step from
// ephemeral-port-exhaustion, since reuse needs TCP timestamps and a TIME_WAIT at least a second
// old, and any burst above the reuse rate fails with EADDRNOTAVAIL.
#include "agent/diagnose/rules.h"
#include "agent/diagnose/rules/common.h"

namespace connwatch::agent::diagnose {

namespace {

constexpr std::uint64_t kMinRecycled = 50;  // reuses during the run
constexpr double kTimeWaitSeconds = 60;     // TCP_TIMEWAIT_LEN

}  // namespace

std::vector<Finding> port_reuse_churn(const Observations& o) {
  std::vector<Finding> out;
  const auto& start = o.time_wait_counters_start.recycled;
  const auto& end = o.time_wait_counters_end.recycled;
  if (!start || !end || *end < *start + kMinRecycled || !o.kernel_end.sockets) return out;
  const std::uint64_t recycled = *end - *start;
  const std::uint64_t usable = o.kernel_end.sockets->usable_ports;
  if (usable == 0) return out;
  const double drain = static_cast<double>(usable) / kTimeWaitSeconds;
  for (const auto& [destination, activity] : o.destinations) {
    const auto rate = time_wait_rate(o, destination);
    if (!rate || rate->per_second <= drain) continue;
    const std::string owner = owner_text(o, destination);
    const double fill_seconds = static_cast<double>(usable) / rate->per_second;
    char drain_text[32];
    std::snprintf(drain_text, sizeof drain_text, "%.1f", drain);
    Finding f;
    f.severity = Severity::kWarning;
    f.summary = destination + ": " + (rate->lower_bound ? "at least " : "") +
                count(static_cast<std::uint64_t>(std::llround(rate->per_second))) +
                " new connections/s through " + count(usable) +
                " usable local ports, which TIME_WAIT drains at " + drain_text +
                "/s: kept going only by TIME_WAIT reuse (TWRecycled +" + count(recycled) + " in " +
                seconds(o.duration_seconds) + ")" + (owner.empty() ? "" : ", from " + owner);
    f.evidence = {
        {"destination", destination},
        {"per_second", rate->per_second},
        {"rate_source", rate->source},
        {"lower_bound", rate->lower_bound},
        {"time_wait_entries", rate->entries},
        {"drain_per_second", std::round(drain * 100) / 100},
        {"usable_ports", usable},
        {"port_range", port_range_text(o)},
        {"tw_recycled", recycled},
        {"tw_recycled_per_second", per_second(recycled, o.duration_seconds)},
        {"tcp_tw_reuse", o.tcp_tw_reuse ? nlohmann::json(*o.tcp_tw_reuse) : nlohmann::json()},
        {"seconds_to_fill_without_reuse", std::round(fill_seconds * 10) / 10},
        {"owners", owners_json(o, destination)},
        {"attribution", attribution(o, destination)}};
    f.recommendation = (owner.empty() ? std::string("the client") : owner) +
                       " opens a connection per request to " + destination +
                       ": reuse pooled keep-alive connections. Without reuse the " + count(usable) +
                       " ports fill in " + seconds(fill_seconds) +
                       " and connects fail with EADDRNOTAVAIL; meanwhile widen "
                       "net.ipv4.ip_local_port_range (now " +
                       port_range_text(o) + ")";
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace connwatch::agent::diagnose
