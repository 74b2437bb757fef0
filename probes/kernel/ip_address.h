// An IPv4 or IPv6 address as sock_diag reports it, small enough to be a hash-map key.
#pragma once

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace connwatch::kernel {

enum class IpFamily : std::uint8_t { kIpv4, kIpv6 };

class IpAddress {
 public:
  IpAddress() = default;

  static IpAddress v4(const std::array<std::uint8_t, 4>& bytes);
  static IpAddress v6(const std::array<std::uint8_t, 16>& bytes);
  // An IPv4-mapped IPv6 address (::ffff:a.b.c.d) becomes the IPv4 address: a dual-stack socket
  // talking to an IPv4 peer shares the IPv4 port space (one inet hash for both families).
  static IpAddress v6_normalized(const std::array<std::uint8_t, 16>& bytes);
  // "10.0.0.1", "::1", "[::1]"; nullopt on anything else.
  static std::optional<IpAddress> parse(std::string_view text);

  IpFamily family() const { return family_; }
  // 4 or 16 bytes in network order.
  std::size_t size() const { return family_ == IpFamily::kIpv4 ? 4 : 16; }
  const std::uint8_t* data() const { return bytes_.data(); }

  // Conventional text without brackets: "10.0.0.1", "2001:db8::1".
  std::string to_string() const;

  std::size_t hash() const;
  friend auto operator<=>(const IpAddress&, const IpAddress&) = default;

 private:
  IpFamily family_ = IpFamily::kIpv4;
  std::array<std::uint8_t, 16> bytes_{};  // IPv4 uses the first 4, the rest stay zero
};

}  // namespace connwatch::kernel

template <>
struct std::hash<connwatch::kernel::IpAddress> {
  std::size_t operator()(const connwatch::kernel::IpAddress& a) const noexcept { return a.hash(); }
};
