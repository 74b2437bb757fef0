// time-wait-accumulation: TIME_WAIT sockets to one destination keep growing. Every connection the
// client closes first leaves one for 60 s, so a steady growth means a client opening a connection
// per request instead of reusing a pooled one (TCP-NOTES §3).
#include "agent/diagnose/format.h"
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
  for (const auto& d : o.kernel_end.sockets->time_wait) {
    const std::uint64_t start = at_start(o, d.destination);
    const std::uint64_t grew = d.sockets > start ? d.sockets - start : 0;
    if (d.sockets < kMinSockets || grew < kMinGrowth) continue;
    const std::string destination = d.destination.to_string();
    const double rate = per_second(grew, o.duration_seconds);

    nlohmann::json owners = nlohmann::json::array();
    std::string who;
    if (const auto it = o.owners.find(destination); it != o.owners.end()) {
      for (const auto& owner : it->second.owners) {
        owners.push_back({{"pid", owner.pid}, {"comm", owner.comm}, {"sockets", owner.sockets}});
      }
      const auto& list = it->second.owners;
      if (list.size() == 1) {
        who = " from one process (pid " + std::to_string(list[0].pid) + " " + list[0].comm + ")";
      } else if (!list.empty()) {
        who = " from " + std::to_string(list.size()) + " processes, most from pid " +
              std::to_string(list[0].pid) + " " + list[0].comm;
      }
    }
    Finding f;
    f.severity = Severity::kWarning;
    f.summary = count(d.sockets);
    f.summary += " TIME_WAIT sockets to ";
    f.summary += destination;
    f.summary += " (+" + count(grew);
    f.summary += " in " + seconds(o.duration_seconds);
    f.summary += ")" + who;
    f.evidence = {{"destination", destination},
                  {"time_wait_start", start},
                  {"time_wait_end", d.sockets},
                  {"per_second", rate},
                  {"steady_state", static_cast<std::uint64_t>(rate * kTimeWaitSeconds)},
                  {"owners", owners}};
    std::string client = "the client";
    if (!owners.empty()) {
      client = "pid " + std::to_string(owners[0]["pid"].get<int>());
      client += " (" + owners[0]["comm"].get<std::string>() + ")";
    }
    const auto steady = static_cast<std::uint64_t>(rate * kTimeWaitSeconds);
    f.recommendation = client;
    f.recommendation += " opens a connection per request to " + destination;
    f.recommendation += ": reuse one pooled keep-alive client instead; at ";
    f.recommendation += count(static_cast<std::uint64_t>(rate)) + "/s TIME_WAIT settles near ";
    f.recommendation += count(steady) + " sockets (60 s each)";
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace connwatch::agent::diagnose
