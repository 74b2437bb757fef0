#include "probes/kernel/endpoint.h"

#include <charconv>

namespace connwatch::kernel {

std::string Endpoint::to_string() const {
  std::string out;
  if (address.family() == IpFamily::kIpv6) {
    out = "[" + address.to_string() + "]";
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
  const std::string_view host = text.substr(0, colon);
  const std::string_view port_text = text.substr(colon + 1);
  // An IPv6 address must be bracketed, so "::1:80" is not silently read as [::1]:80.
  const bool bracketed = !host.empty() && host.front() == '[';
  unsigned port = 0;
  const auto [end, ec] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port > 65535) {
    return std::nullopt;
  }
  auto address = IpAddress::parse(host);
  if (!address) return std::nullopt;
  if ((address->family() == IpFamily::kIpv6) != bracketed) return std::nullopt;
  return Endpoint{*address, static_cast<std::uint16_t>(port)};
}

}  // namespace connwatch::kernel
