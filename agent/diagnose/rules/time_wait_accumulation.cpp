// time-wait-accumulation: TIME_WAIT sockets to one destination keep growing. Every connection the
// client closes first leaves one for 60 s, so a steady growth means a client opening a connection
// per request instead of reusing a pooled one (TCP-NOTES §3). The rate is the TIME_WAIT entries
// counted (time_wait_rate()), and the process named is the one seen holding the destination's
// live sockets, never connwatch itself (sampler.h says how).
#include "agent/diagnose/rules.h"
#include "agent/diagnose/rules/common.h"

namespace connwatch::agent::diagnose {

namespace {

constexpr std::uint64_t kMinSockets = 100;  // below this TIME_WAIT is harmless
constexpr std::uint64_t kMinGrowth = 50;    // new TIME_WAIT during the run
constexpr double kTimeWaitSeconds = 60;     // TCP_TIMEWAIT_LEN

std::uint64_t at_start(const Observations& o, const kernel::Endpoint& destination) {
  if (!o.kernel_start.sockets) return 0;
  for (const auto& d : o.kernel_start.sockets->time_wait) {
    if (d.destination == destination) return d.sockets;
  }
  return 0;
}

}  // namespace

std::vector<Finding> time_wait_accumulation(const Observations& o) {
  std::vector<Finding> out;
  if (!o.kernel_end.sockets) return out;
  const std::uint64_t usable = o.kernel_end.sockets->usable_ports;
  for (const auto& d : o.kernel_end.sockets->time_wait) {
    const std::uint64_t start = at_start(o, d.destination);
    const std::uint64_t grew = d.sockets > start ? d.sockets - start : 0;
    if (d.sockets < kMinSockets || grew < kMinGrowth) continue;
    const std::string destination = d.destination.to_string();
    // The counted entries; the gauge's growth only when the samples never saw the destination
    // (it spans a slightly longer window: the tables are read before the sampler starts and
    // after it stops).
    const auto counted = time_wait_rate(o, destination);
    const std::uint64_t entries = counted ? counted->entries : grew;
    const bool lower_bound = !counted || counted->lower_bound;
    const double rate = counted ? counted->per_second : per_second(grew, o.duration_seconds);
    const auto steady = static_cast<std::uint64_t>(rate * kTimeWaitSeconds);
    const std::string owner = owner_text(o, destination);

    Finding f;
    f.severity = Severity::kWarning;
    f.summary = count(d.sockets) + " TIME_WAIT sockets to " + destination + ": " +
                (lower_bound ? "at least " : "") + count(entries) + " new in " +
                seconds(o.duration_seconds) + " (" +
                count(static_cast<std::uint64_t>(std::llround(rate))) + "/s)" +
                (owner.empty() ? "" : ", opened by " + owner);
    f.evidence = {{"destination", destination},
                  {"time_wait_start", start},
                  {"time_wait_end", d.sockets},
                  {"time_wait_entries", entries},
                  {"per_second", rate},
                  {"rate_source", counted ? counted->source : "TIME_WAIT gauge"},
                  {"lower_bound", lower_bound},
                  {"steady_state", steady},
                  {"usable_ports", usable},
                  {"owners", owners_json(o, destination)},
                  {"attribution", attribution(o, destination)}};
    std::string who = owner.empty() ? "a client" : owner;
    f.recommendation = who + " opens a connection per request to " + destination +
                       ": reuse one pooled keep-alive client instead; at " +
                       count(static_cast<std::uint64_t>(std::llround(rate))) +
                       "/s TIME_WAIT settles near " + count(steady) + " sockets (60 s each)";
    if (usable > 0 && steady > usable) {
      f.recommendation += ", more than the " + count(usable) +
                          " usable local ports: connects then depend on TIME_WAIT reuse or fail "
                          "with EADDRNOTAVAIL";
    }
    if (owner.empty()) {
      f.recommendation +=
          "; the process was not caught holding a live socket to it (`ss -tnp dst " + destination +
          "` while it runs)";
    }
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace connwatch::agent::diagnose
