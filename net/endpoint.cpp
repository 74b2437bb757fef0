#include "net/endpoint.h"

#include <charconv>

namespace connwatch::net {

std::string Endpoint::to_string() const {
  std::string out;
  if (address.is_v6()) {
    out = "[" + address.to_string();
    if (scope_id != 0) out += "%" + std::to_string(scope_id);
    out += "]";
  } else {
    out = address.to_string();
  }
  out += ':';
  out += std::to_string(port);
  return out;
}

std::optional<Endpoint> Endpoint::parse(std::string_view text) {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon + 1 >= text.size()) return std::nullopt;
  std::string_view host = text.substr(0, colon);
  const std::string_view port_text = text.substr(colon + 1);
  unsigned port = 0;
  const auto [end, ec] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port > 65535) {
    return std::nullopt;
  }
  // RFC 3986 §3.2.2: an IPv6 address is bracketed, and only an IPv6 address.
  const bool bracketed = host.size() >= 2 && host.front() == '[' && host.back() == ']';
  if (bracketed) host = host.substr(1, host.size() - 2);
  const auto address = IpAddress::parse(host);
  if (!address || address->is_v6() != bracketed) return std::nullopt;
  return Endpoint{*address, static_cast<std::uint16_t>(port), 0};
}

}  // namespace connwatch::net
