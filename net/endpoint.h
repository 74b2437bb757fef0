// Endpoint: an address and a TCP port, one side of a connection; and its text, the one endpoint
// formatter of connwatch: the kernel's `destination` label, the pool's and the harness's `peer`,
// diagnose's addresses.
//
// Text (to_string), after RFC 3986 §3.2.2 (IP-literal in brackets) and the usual host:port:
//   - IPv4: "192.0.2.1:443"
//   - IPv6: "[2001:db8::1]:443", the address as net/ip_address.h writes it (RFC 5952), so a
//     mapped address reads "[::ffff:192.0.2.1]:443".
//   - A non-zero IPv6 scope id follows the address inside the brackets as "%" and the decimal
//     zone index (RFC 4007 §11.2, numeric form): "[fe80::1%2]:443". Only resolver endpoints
//     (probes/active) carry one; sock_diag and captured packets never do.
//   - The port in decimal, 0 to 65535, no leading zeros.
//
// parse() is the inverse for every text to_string() writes without a scope id (a zone is refused):
// an IPv4 address bare, an IPv6 one only in brackets (so "::1:80" is refused rather than read as
// [::1]:80, and
// "[192.0.2.1]:80" too), then ':' and a decimal port <= 65535. nullopt on anything else; it
// never throws.
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "net/ip_address.h"

namespace connwatch::net {

struct Endpoint {
  IpAddress address;
  std::uint16_t port = 0;
  // IPv6 only: sin6_scope_id, the zone the address is in (a link-local address's interface
  // index); 0 is none.
  std::uint32_t scope_id = 0;

  std::string to_string() const;
  static std::optional<Endpoint> parse(std::string_view text);

  friend bool operator==(const Endpoint&, const Endpoint&) = default;
  friend auto operator<=>(const Endpoint&, const Endpoint&) = default;
};

}  // namespace connwatch::net

template <>
struct std::hash<connwatch::net::Endpoint> {
  std::size_t operator()(const connwatch::net::Endpoint& e) const noexcept {
    return e.address.hash() * 31U + e.port + e.scope_id;
  }
};
