// IpAddress: an IPv4 or IPv6 address as it appears on the wire, small enough to copy freely.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace connwatch::passive {

struct IpAddress {
  enum class Family : std::uint8_t { kIpv4 = 4, kIpv6 = 6 };

  Family family = Family::kIpv4;
  // IPv4 uses the first 4 bytes; the rest stay zero so comparisons and hashes see whole arrays.
  std::array<std::uint8_t, 16> bytes{};

  static IpAddress v4(std::span<const std::uint8_t, 4> network_order);
  static IpAddress v6(std::span<const std::uint8_t, 16> network_order);
  // Parses dotted-quad or RFC 4291 text; nullopt when it is neither.
  static std::optional<IpAddress> parse(std::string_view text);

  std::string to_string() const;

  friend bool operator==(const IpAddress&, const IpAddress&) = default;
  friend auto operator<=>(const IpAddress&, const IpAddress&) = default;
};

struct IpAddressHash {
  std::size_t operator()(const IpAddress& address) const noexcept;
};

}  // namespace connwatch::passive
