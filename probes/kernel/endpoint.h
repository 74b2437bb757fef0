// An address and a TCP port: one side of a socket, or the `destination` label value.
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "probes/kernel/ip_address.h"

namespace connwatch::kernel {

struct Endpoint {
  IpAddress address;
  std::uint16_t port = 0;

  // "10.0.0.1:443", IPv6 in brackets "[2001:db8::1]:443": the `destination` label value.
  std::string to_string() const;
  // The inverse of to_string(); nullopt when the text is not exactly that form.
  static std::optional<Endpoint> parse(std::string_view text);

  friend auto operator<=>(const Endpoint&, const Endpoint&) = default;
};

}  // namespace connwatch::kernel

template <>
struct std::hash<connwatch::kernel::Endpoint> {
  std::size_t operator()(const connwatch::kernel::Endpoint& e) const noexcept {
    return e.address.hash() * 31U + e.port;
  }
};
