// fd-exhaustion: file descriptors near a limit (a process's RLIMIT_NOFILE: EMFILE; the system's
// fs.file-max: ENFILE), or a probe already failed with EMFILE/ENFILE.
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
    f.recommendation =
        "raise its limit (LimitNOFILE= in its systemd unit, or ulimit -n) or look "
        "for a leak: ls -l /proc/" +
        std::to_string(p.pid) + "/fd | awk '{print $NF}' | sort | uniq -c";
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
