#include "probes/kernel/conntrack_usage.h"

#include <cerrno>
#include <string>

#include "probes/kernel/proc_file.h"

namespace connwatch::kernel {

std::error_code parse_sysctl_number(std::string_view text, std::uint64_t& out) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  if (!parse_decimal(text, out)) return ProcFileError::kMalformed;
  return {};
}

std::error_code read_conntrack_usage(const std::filesystem::path& proc_root,
                                     std::optional<ConntrackUsage>& out) {
  const auto dir = proc_root / "sys/net/netfilter";
  std::string text;
  ConntrackUsage usage;
  if (auto ec = read_proc_file(dir / "nf_conntrack_count", text)) {
    if (ec == std::errc::no_such_file_or_directory) {
      out.reset();
      return {};
    }
    return ec;
  }
  if (auto ec = parse_sysctl_number(text, usage.entries)) return ec;
  if (auto ec = read_proc_file(dir / "nf_conntrack_max", text)) return ec;
  if (auto ec = parse_sysctl_number(text, usage.limit)) return ec;
  out = usage;
  return {};
}

}  // namespace connwatch::kernel
