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

std::uint64_t at_start(const kernel::SocketTableSummary* start,
                       const kernel::Endpoint& destination) {
  if (start == nullptr) return 0;
  for (const auto& d : start->time_wait) {
    if (d.destination == destination) return d.sockets;
  }
  return 0;
}

struct Rate {
  std::uint64_t entries = 0;
  double per_second = 0;
  bool lower_bound = true;
  std::string source;
};

// What was counted, best source first: the measured namespace's TIME_WAIT entries (capture or
// samples, time_wait_rate()); the connects the tracepoint counted (each connection the client
// closes first leaves one TIME_WAIT); else the gauge's growth, a lower bound (expiry and reuse
// keep it down; a gauge that stays level says nothing about how many came and went).
Rate rate_of(const Observations& o, const NamespaceTables& t, const std::string& destination,
             std::uint64_t grew) {
  if (t.self) {
    if (const auto counted = time_wait_rate(o, destination); counted && counted->entries > 0) {
      return {counted->entries, counted->per_second, counted->lower_bound, counted->source};
    }
  }
  if (const auto connects = connects_to(o, destination, t.netns); connects && *connects > 0) {
    return {*connects, per_second(*connects, o.duration_seconds), o.connect_trace_lost > 0,
            "connect tracepoint"};
  }
  return {grew, per_second(grew, o.duration_seconds), true, "TIME_WAIT gauge"};
}

}  // namespace

std::vector<Finding> time_wait_accumulation(const Observations& o) {
  std::vector<Finding> out;
  for (const NamespaceTables& t : namespace_tables(o)) {
    const std::uint64_t usable = t.end->usable_ports;
    for (const auto& d : t.end->time_wait) {
      const std::uint64_t start = at_start(t.start, d.destination);
      const std::uint64_t grew = d.sockets > start ? d.sockets - start : 0;
      if (d.sockets < kMinSockets) continue;
      const std::string destination = d.destination.to_string();
      const Rate r = rate_of(o, t, destination, grew);
      if (r.entries < kMinGrowth) continue;
      const auto steady = static_cast<std::uint64_t>(r.per_second * kTimeWaitSeconds);
      const std::string owner = owner_text(o, destination, t.netns);
      const std::string where = in_netns(t);

      Finding f;
      f.severity = Severity::kWarning;
      f.summary = count(d.sockets) + " TIME_WAIT sockets to " + destination + where + ": " +
                  (r.lower_bound ? "at least " : "") + count(r.entries) + " new in " +
                  seconds(o.duration_seconds) + " (" +
                  count(static_cast<std::uint64_t>(std::llround(r.per_second))) + "/s)" +
                  (owner.empty() ? "" : ", opened by " + owner);
      f.evidence = {{"destination", destination},
                    {"netns", t.netns},
                    {"time_wait_start", start},
                    {"time_wait_end", d.sockets},
                    {"time_wait_entries", r.entries},
                    {"per_second", r.per_second},
                    {"rate_source", r.source},
                    {"lower_bound", r.lower_bound},
                    {"steady_state", steady},
                    {"usable_ports", usable},
                    {"owners", owners_json(o, destination, t.netns)},
                    {"attribution", attribution(o, destination, t.netns)}};
      const std::string who = owner.empty() ? "a client" : owner;
      f.recommendation = who + where + " opens a connection per request to " + destination +
                         ": reuse one pooled keep-alive client instead; at " +
                         count(static_cast<std::uint64_t>(std::llround(r.per_second))) +
                         "/s TIME_WAIT settles near " + count(steady) + " sockets (60 s each)";
      if (usable > 0 && steady > usable) {
        f.recommendation += ", more than the " + count(usable) +
                            " usable local ports: connects then depend on TIME_WAIT reuse or fail "
                            "with EADDRNOTAVAIL";
      }
      if (owner.empty()) {
        f.recommendation +=
            "; the process was not seen connecting or holding a live socket to it "
            "(`ss -tnp dst " +
            destination + "`" + (t.self ? "" : " inside netns " + t.netns) + " while it runs)";
      }
      out.push_back(std::move(f));
    }
  }
  return out;
}

}  // namespace connwatch::agent::diagnose
