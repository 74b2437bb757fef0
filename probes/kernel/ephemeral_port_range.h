// The local ports connect() picks from: net.ipv4.ip_local_port_range (which IPv6 uses too) minus
// net.ipv4.ip_local_reserved_ports. A destination runs out when all of them are taken
// (EADDRNOTAVAIL).
#pragma once

#include <bitset>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string_view>
#include <system_error>

namespace connwatch::kernel {

struct EphemeralPortRange {
  std::uint16_t low = 32768;  // the kernel's default (ip-sysctl.rst)
  std::uint16_t high = 60999;
  std::bitset<65536> reserved;  // ip_local_reserved_ports; only those inside [low, high] matter

  // high - low + 1: connwatch_ephemeral_port_range_size.
  std::size_t size() const;
  std::size_t reserved_in_range() const;
  // The ports connect() can actually use, the denominator of utilization.
  std::size_t usable() const;
  bool is_ephemeral(std::uint16_t port) const {
    return port >= low && port <= high && !reserved.test(port);
  }
};

// "32768\t60999\n". Sets low/high; errors on anything but two ports with low <= high.
std::error_code parse_ip_local_port_range(std::string_view text, EphemeralPortRange& out);
// "" or "8080,9000-9100\n". Replaces out.reserved.
std::error_code parse_ip_local_reserved_ports(std::string_view text, EphemeralPortRange& out);

// Reads both sysctls under <proc_root>/sys/net/ipv4/. The reserved list is optional (kernels
// without it, or an unreadable file, mean none reserved); the range is required.
std::error_code read_ephemeral_port_range(const std::filesystem::path& proc_root,
                                          EphemeralPortRange& out);

}  // namespace connwatch::kernel
