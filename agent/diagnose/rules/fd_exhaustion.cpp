// fd-exhaustion: file descriptors near a limit (a process's RLIMIT_NOFILE: EMFILE; the system's
// fs.file-max: ENFILE), or a probe already failed with EMFILE/ENFILE.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "agent/diagnose/format.h"
#include "agent/diagnose/rules.h"
#include "agent/diagnose/rules/common.h"

namespace connwatch::agent::diagnose {

namespace {

constexpr double kWarning = 0.8;
constexpr double kCritical = 0.9;

double ratio(std::uint64_t used, std::uint64_t limit) {
  return limit == 0 ? 0 : static_cast<double>(used) / static_cast<double>(limit);
}

}  // namespace

std::vector<Finding> fd_exhaustion(const Observations& o) {
  std::vector<Finding> out;
  for (const TargetObservation& t : o.targets) {
    const std::uint64_t failed = attempts(t, active::Outcome::kFdExhausted);
    if (failed == 0) continue;
    Finding f;
    f.severity = Severity::kCritical;
    f.summary = t.config.name + ": " + plural(failed, "attempt", "attempts") +
                " failed with EMFILE/ENFILE: out of file descriptors";
    f.evidence = {{"target", t.config.name}, {"fd_exhausted", failed}, {"attempts", attempts(t)}};
    if (o.kernel_end.process_file_descriptors) {
      f.evidence["agent_open"] = o.kernel_end.process_file_descriptors->open;
      f.evidence["agent_limit"] = o.kernel_end.process_file_descriptors->limit;
    }
    f.recommendation =
        "raise the open-files limit (ulimit -n, LimitNOFILE= in the systemd unit) or find the "
        "descriptor leak";
    out.push_back(std::move(f));
  }

  for (const ProcessFds& p : o.processes_near_fd_limit) {
    const double r = ratio(p.open, p.limit);
    if (r < kWarning) continue;
    Finding f;
    f.severity = r >= kCritical ? Severity::kCritical : Severity::kWarning;
    f.summary = "pid " + std::to_string(p.pid) + " (" + p.comm + ") has " + count(p.open) + " of " +
                count(p.limit) + " file descriptors open (" + percent(r) + ")";
    f.evidence = {
        {"pid", p.pid}, {"comm", p.comm}, {"open", p.open}, {"limit", p.limit}, {"utilization", r}};
    // Growth over the run, from the sampler's once-a-second samples.
    std::optional<double> growth;
    if (const auto it = o.fd_trends.find(p.pid);
        it != o.fd_trends.end() && it->second.seconds >= 1) {
      const FdTrend& t = it->second;
      growth = (static_cast<double>(t.last_open) - static_cast<double>(t.first_open)) / t.seconds;
      growth = std::round(*growth * 10) / 10;
    }
    f.evidence["growth_per_second"] = growth ? nlohmann::json(*growth) : nlohmann::json();
    if (growth && *growth > 0) {
      const double left = static_cast<double>(p.limit - std::min(p.open, p.limit)) / *growth;
      f.evidence["seconds_to_exhaustion"] = std::round(left * 10) / 10;
      char rate[32];
      std::snprintf(rate, sizeof rate, "%.1f", *growth);
      f.summary += ", growing " + std::string(rate) + "/s: out in " + seconds(left);
    } else if (growth) {
      f.summary += ", not growing during the run";
    }
    f.evidence["serves_targets"] = p.serves_targets;
    f.evidence["client_of_targets"] = p.client_of_targets;
    std::string breaks;
    for (const auto& name : p.serves_targets) breaks += (breaks.empty() ? "" : ", ") + name;
    if (!breaks.empty()) {
      f.summary += "; it serves target " + breaks + ", whose connects then stall or fail";
    }
    std::string uses;
    for (const auto& name : p.client_of_targets) uses += (uses.empty() ? "" : ", ") + name;
    if (!uses.empty())
      f.summary += "; its connections to target " + uses + " then fail with EMFILE";
    f.recommendation =
        "look for a leak in pid " + std::to_string(p.pid) +
        (growth && *growth > 0 ? " (it keeps opening descriptors)" : "") + ": ls -l /proc/" +
        std::to_string(p.pid) +
        "/fd | awk '{print $NF}' | sort | uniq -c; or raise its limit (LimitNOFILE= in its "
        "systemd unit, or ulimit -n)";
    out.push_back(std::move(f));
  }

  if (const auto& sys = o.kernel_end.file_descriptors; sys && sys->maximum > 0) {
    const double r = ratio(sys->allocated, sys->maximum);
    if (r >= kWarning) {
      Finding f;
      f.severity = r >= kCritical ? Severity::kCritical : Severity::kWarning;
      f.summary = "the system has " + count(sys->allocated) + " of " + count(sys->maximum) +
                  " file handles allocated (" + percent(r) + ")";
      f.evidence = {{"allocated", sys->allocated}, {"limit", sys->maximum}, {"utilization", r}};
      f.recommendation = "raise fs.file-max, and find the process holding most descriptors";
      out.push_back(std::move(f));
    }
  }
  return out;
}

}  // namespace connwatch::agent::diagnose
