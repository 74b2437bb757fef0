#include "agent/diagnose/time_wait_counters.h"

#include <string>
#include <vector>

#include "probes/kernel/proc_file.h"

namespace connwatch::agent::diagnose {

namespace {

std::vector<std::string_view> fields(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && line[i] == ' ') ++i;
    const std::size_t start = i;
    while (i < line.size() && line[i] != ' ') ++i;
    if (i > start) out.push_back(line.substr(start, i - start));
  }
  return out;
}

}  // namespace

TimeWaitCounters parse_time_wait_counters(std::string_view text) {
  TimeWaitCounters out;
  std::vector<std::string_view> lines;
  for (std::size_t start = 0; start < text.size();) {
    const std::size_t end = text.find('\n', start);
    lines.push_back(
        text.substr(start, (end == std::string_view::npos ? text.size() : end) - start));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  for (std::size_t i = 0; i + 1 < lines.size(); ++i) {
    if (!lines[i].starts_with("TcpExt:") || !lines[i + 1].starts_with("TcpExt:")) continue;
    const auto names = fields(lines[i]);
    const auto values = fields(lines[i + 1]);
    if (names.size() != values.size()) return out;
    for (std::size_t k = 1; k < names.size(); ++k) {
      std::uint64_t v = 0;
      if (!kernel::parse_decimal(values[k], v)) continue;
      if (names[k] == "TW") out.entered = v;
      if (names[k] == "TWRecycled") out.recycled = v;
      if (names[k] == "TWKilled") out.killed = v;
    }
    return out;
  }
  return out;
}

TimeWaitCounters read_time_wait_counters(const std::filesystem::path& proc_root) {
  std::string text;
  if (kernel::read_proc_file(proc_root / "net/netstat", text)) return {};
  return parse_time_wait_counters(text);
}

}  // namespace connwatch::agent::diagnose
