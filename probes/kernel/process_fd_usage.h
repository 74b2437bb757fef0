// Which processes are close to their open-files limit (RLIMIT_NOFILE): entries in
// /proc/<pid>/fd against the soft "Max open files" of /proc/<pid>/limits. EMFILE hits the one
// process, so `agent --diagnose` names it. Without root, other users' processes are not visible.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace connwatch::kernel {

struct ProcessFdUsage {
  int pid = 0;
  std::string comm;
  std::uint64_t open = 0;
  std::uint64_t limit = 0;  // soft limit; "unlimited" is UINT64_MAX

  double utilization() const {
    return limit == 0 ? 0 : static_cast<double>(open) / static_cast<double>(limit);
  }
};

// The soft limit from /proc/<pid>/limits text:
//   "Max open files            1024                 524288               files     "
std::optional<std::uint64_t> parse_max_open_files(std::string_view limits_text);

// Every visible process whose open descriptors reach `threshold` of its soft limit, most used
// first. Processes that exit or deny access mid-scan are skipped.
std::vector<ProcessFdUsage> processes_near_fd_limit(
    double threshold, const std::filesystem::path& proc_root = "/proc");

}  // namespace connwatch::kernel
