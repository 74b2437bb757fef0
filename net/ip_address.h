// IpAddress: one IPv4 or IPv6 address, as the kernel, the wire and the resolver hand it over;
// 17 bytes without padding (the passive flow key compares its bytes), copied freely, a hash-map
// key. The one address type of connwatch (issue 16 "Shape").
//
// Text (to_string), the label value everywhere an address is one:
//   - IPv4: dotted quad, "192.0.2.1".
//   - IPv6: RFC 5952 §4: lowercase hex, no leading zeros in a field, the longest run of two or
//     more zero fields (the first on a tie) as "::", never "::" for a single zero field.
//   - IPv4-mapped IPv6 (::ffff:0:0/96) kept as IPv6: "::ffff:192.0.2.1" (RFC 5952 §5). Other
//     embedded forms (IPv4-compatible ::/96, 64:ff9b::/96) are written in hex: "::c000:201".
//   No brackets and no zone: those belong to the endpoint (net/endpoint.h), as sin6_scope_id
//   belongs to sockaddr_in6 and not to in6_addr.
//
// IPv4-mapped addresses, decided once: an address keeps the family it was made with, except
// through v6_unmapped(), which makes ::ffff:a.b.c.d the IPv4 address a.b.c.d. That is for
// dual-stack socket tables (sock_diag): such a socket talking to an IPv4 peer shares the IPv4
// port space (one inet hash for both families) and its destination is the IPv4 one. A packet
// captured on the wire never carries a mapped address (RFC 4291 §2.5.5.2), and the resolver
// returns IPv4 addresses as IPv4, so passive and active addresses read the same.
//
// parse() accepts what inet_pton(3) accepts and nothing else: a dotted quad of four decimal
// numbers, or RFC 4291 §2.2 text; no brackets, no zone, no surrounding space. nullopt otherwise.
#pragma once

#include <algorithm>
#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

namespace connwatch::net {

// The values are the IP version numbers.
enum class IpFamily : std::uint8_t { kIpv4 = 4, kIpv6 = 6 };

class IpAddress {
 public:
  // 0.0.0.0
  IpAddress() = default;

  // Bytes in network order. Inline: the passive dissector makes two per packet.
  static IpAddress v4(std::span<const std::uint8_t, 4> bytes) {
    IpAddress a;
    a.family_ = IpFamily::kIpv4;
    std::copy(bytes.begin(), bytes.end(), a.bytes_.begin());
    return a;
  }
  static IpAddress v6(std::span<const std::uint8_t, 16> bytes) {
    IpAddress a;
    a.family_ = IpFamily::kIpv6;
    std::copy(bytes.begin(), bytes.end(), a.bytes_.begin());
    return a;
  }
  // The same, written in place: the passive dissector's per-packet path, where a temporary built
  // byte-wise and copied 17 bytes wide stalled on store forwarding (a tenth of replay's time).
  void assign_v4(std::span<const std::uint8_t, 4> bytes) {
    family_ = IpFamily::kIpv4;
    std::memcpy(bytes_.data(), bytes.data(), 4);
    std::memset(bytes_.data() + 4, 0, 12);
  }
  void assign_v6(std::span<const std::uint8_t, 16> bytes) {
    family_ = IpFamily::kIpv6;
    std::memcpy(bytes_.data(), bytes.data(), 16);
  }
  // As v6(), but an IPv4-mapped address (::ffff:a.b.c.d) becomes the IPv4 address a.b.c.d.
  static IpAddress v6_unmapped(std::span<const std::uint8_t, 16> bytes);
  static std::optional<IpAddress> parse(std::string_view text);

  IpFamily family() const { return family_; }
  bool is_v4() const { return family_ == IpFamily::kIpv4; }
  bool is_v6() const { return family_ == IpFamily::kIpv6; }
  // 4 or 16: how many of bytes() are the address.
  std::size_t size() const { return is_v4() ? 4 : 16; }
  const std::uint8_t* data() const { return bytes_.data(); }
  // Network order; an IPv4 address in the first 4 and zeros after, so whole arrays compare.
  const std::array<std::uint8_t, 16>& bytes() const { return bytes_; }

  std::string to_string() const;

  // FNV-1a over the family and the significant bytes.
  std::size_t hash() const;
  friend bool operator==(const IpAddress&, const IpAddress&) = default;
  // IPv4 before IPv6, then by bytes.
  friend auto operator<=>(const IpAddress&, const IpAddress&) = default;

 private:
  IpFamily family_ = IpFamily::kIpv4;
  std::array<std::uint8_t, 16> bytes_{};
};

static_assert(sizeof(IpAddress) == 17 && std::has_unique_object_representations_v<IpAddress>,
              "compared and hashed as bytes by the passive flow key: no padding");

}  // namespace connwatch::net

template <>
struct std::hash<connwatch::net::IpAddress> {
  std::size_t operator()(const connwatch::net::IpAddress& a) const noexcept { return a.hash(); }
};
