#include "probes/kernel/process_fd_usage.h"

#include <algorithm>
#include <charconv>
#include <limits>

#include "probes/kernel/proc_file.h"

namespace connwatch::kernel {

namespace {

bool is_number(const char* name) {
  if (*name == '\0') return false;
  for (const char* p = name; *p != '\0'; ++p) {
    if (*p < '0' || *p > '9') return false;
  }
  return true;
}

std::string_view next_field(std::string_view& rest) {
  const auto start = rest.find_first_not_of(' ');
  if (start == std::string_view::npos) {
    rest = {};
    return {};
  }
  rest.remove_prefix(start);
  const auto end = rest.find(' ');
  const std::string_view field = rest.substr(0, end);
  rest.remove_prefix(end == std::string_view::npos ? rest.size() : end);
  return field;
}

}  // namespace

std::optional<std::uint64_t> parse_max_open_files(std::string_view text) {
  constexpr std::string_view kName = "Max open files";
  std::size_t pos = 0;
  while (pos < text.size()) {
    const auto end = text.find('\n', pos);
    std::string_view line = text.substr(pos, end == std::string_view::npos ? text.npos : end - pos);
    pos = end == std::string_view::npos ? text.size() : end + 1;
    if (!line.starts_with(kName)) continue;
    line.remove_prefix(kName.size());
    const std::string_view soft = next_field(line);
    if (soft == "unlimited") return std::numeric_limits<std::uint64_t>::max();
    std::uint64_t value = 0;
    const auto [ptr, ec] = std::from_chars(soft.data(), soft.data() + soft.size(), value);
    if (ec != std::errc() || ptr != soft.data() + soft.size() || soft.empty()) return std::nullopt;
    return value;
  }
  return std::nullopt;
}

std::vector<ProcessFdUsage> processes_near_fd_limit(double threshold,
                                                    const std::filesystem::path& proc_root) {
  namespace fs = std::filesystem;
  std::vector<ProcessFdUsage> out;
  std::error_code ec;
  // Processes come and go mid-scan: every step takes an error_code and skips what vanished.
  for (fs::directory_iterator it(proc_root, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (!is_number(name.c_str())) continue;
    const fs::path& pid_dir = it->path();
    std::string limits;
    if (read_proc_file(pid_dir / "limits", limits, 8192)) continue;
    const auto limit = parse_max_open_files(limits);
    if (!limit || *limit == 0) continue;
    std::error_code fd_ec;
    std::uint64_t open = 0;
    for (fs::directory_iterator fd(pid_dir / "fd", fd_ec); !fd_ec && fd != end;
         fd.increment(fd_ec)) {
      ++open;
    }
    if (fd_ec && open == 0) continue;  // not ours to read
    ProcessFdUsage usage;
    usage.open = open;
    usage.limit = *limit;
    if (usage.utilization() < threshold) continue;
    std::from_chars(name.data(), name.data() + name.size(), usage.pid);
    if (!read_proc_file(pid_dir / "comm", usage.comm, 256)) {
      while (!usage.comm.empty() && usage.comm.back() == '\n') usage.comm.pop_back();
    }
    out.push_back(std::move(usage));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.utilization() > b.utilization() ||
           (a.utilization() == b.utilization() && a.pid < b.pid);
  });
  return out;
}

}  // namespace connwatch::kernel
