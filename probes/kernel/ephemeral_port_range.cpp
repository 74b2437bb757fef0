#include "probes/kernel/ephemeral_port_range.h"

#include <string>

#include "probes/kernel/proc_file.h"

namespace connwatch::kernel {
namespace {

bool parse_port(std::string_view text, std::uint16_t& port) {
  std::uint64_t value = 0;
  if (!parse_decimal(text, value) || value > 65535) return false;
  port = static_cast<std::uint16_t>(value);
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  return s;
}

}  // namespace

std::size_t EphemeralPortRange::size() const {
  return high >= low ? static_cast<std::size_t>(high - low) + 1 : 0;
}

std::size_t EphemeralPortRange::reserved_in_range() const {
  std::size_t n = 0;
  for (std::size_t p = low; p <= high && high >= low; ++p) n += reserved.test(p) ? 1 : 0;
  return n;
}

std::size_t EphemeralPortRange::usable() const { return size() - reserved_in_range(); }

std::error_code parse_ip_local_port_range(std::string_view text, EphemeralPortRange& out) {
  const auto fields = split_fields(trim(text));
  std::uint16_t low = 0;
  std::uint16_t high = 0;
  if (fields.size() != 2 || !parse_port(fields[0], low) || !parse_port(fields[1], high) ||
      low > high) {
    return ProcFileError::kMalformed;
  }
  out.low = low;
  out.high = high;
  return {};
}

std::error_code parse_ip_local_reserved_ports(std::string_view text, EphemeralPortRange& out) {
  std::bitset<65536> reserved;
  std::string_view rest = trim(text);
  bool more = !rest.empty();
  while (more) {
    const auto comma = rest.find(',');
    const std::string_view item = trim(rest.substr(0, comma));
    more = comma != std::string_view::npos;  // a trailing comma leaves an empty, invalid item
    rest = more ? rest.substr(comma + 1) : std::string_view{};
    const auto dash = item.find('-');
    std::uint16_t first = 0;
    std::uint16_t last = 0;
    if (dash == std::string_view::npos) {
      if (!parse_port(item, first)) return ProcFileError::kMalformed;
      last = first;
    } else if (!parse_port(item.substr(0, dash), first) ||
               !parse_port(item.substr(dash + 1), last) || first > last) {
      return ProcFileError::kMalformed;
    }
    for (std::size_t p = first; p <= last; ++p) reserved.set(p);
  }
  out.reserved = reserved;
  return {};
}

std::error_code read_ephemeral_port_range(const std::filesystem::path& proc_root,
                                          EphemeralPortRange& out) {
  const auto dir = proc_root / "sys/net/ipv4";
  std::string text;
  if (auto ec = read_proc_file(dir / "ip_local_port_range", text)) return ec;
  EphemeralPortRange range;
  if (auto ec = parse_ip_local_port_range(text, range)) return ec;
  if (!read_proc_file(dir / "ip_local_reserved_ports", text)) {
    if (auto ec = parse_ip_local_reserved_ports(text, range)) return ec;
  }
  out = range;
  return {};
}

}  // namespace connwatch::kernel
