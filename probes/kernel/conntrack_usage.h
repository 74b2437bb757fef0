// Connection-tracking table fill: when nf_conntrack_count reaches _max the kernel drops new flows
// silently (SYNs retransmit, no RST; TCP-NOTES §3). Only present where nf_conntrack is loaded.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string_view>
#include <system_error>

namespace connwatch::kernel {

struct ConntrackUsage {
  std::uint64_t entries = 0;  // nf_conntrack_count
  std::uint64_t limit = 0;    // nf_conntrack_max
};

// One decimal number and a newline, as both sysctls read.
std::error_code parse_sysctl_number(std::string_view text, std::uint64_t& out);

// Reads <proc_root>/sys/net/netfilter/nf_conntrack_{count,max}. Without nf_conntrack (the files do
// not exist) `out` is nullopt and that is not an error.
std::error_code read_conntrack_usage(const std::filesystem::path& proc_root,
                                     std::optional<ConntrackUsage>& out);

}  // namespace connwatch::kernel
