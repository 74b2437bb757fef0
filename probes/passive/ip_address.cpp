#include "probes/passive/ip_address.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

namespace connwatch::passive {

IpAddress IpAddress::v4(std::span<const std::uint8_t, 4> network_order) {
  IpAddress address;
  address.family = Family::kIpv4;
  std::copy(network_order.begin(), network_order.end(), address.bytes.begin());
  return address;
}

IpAddress IpAddress::v6(std::span<const std::uint8_t, 16> network_order) {
  IpAddress address;
  address.family = Family::kIpv6;
  std::copy(network_order.begin(), network_order.end(), address.bytes.begin());
  return address;
}

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  const std::string nul_terminated(text);
  IpAddress address;
  if (inet_pton(AF_INET, nul_terminated.c_str(), address.bytes.data()) == 1) {
    address.family = Family::kIpv4;
    return address;
  }
  if (inet_pton(AF_INET6, nul_terminated.c_str(), address.bytes.data()) == 1) {
    address.family = Family::kIpv6;
    return address;
  }
  return std::nullopt;
}

std::string IpAddress::to_string() const {
  char text[INET6_ADDRSTRLEN] = {};
  const int af = family == Family::kIpv4 ? AF_INET : AF_INET6;
  if (inet_ntop(af, bytes.data(), text, sizeof(text)) == nullptr) {
    return "invalid";
  }
  return text;
}

std::size_t IpAddressHash::operator()(const IpAddress& address) const noexcept {
  std::uint64_t low = 0;
  std::uint64_t high = 0;
  std::memcpy(&low, address.bytes.data(), sizeof(low));
  std::memcpy(&high, address.bytes.data() + sizeof(low), sizeof(high));
  std::uint64_t h =
      low * 0x9E3779B97F4A7C15ULL ^ (high + static_cast<std::uint64_t>(address.family));
  h ^= h >> 29;
  h *= 0xBF58476D1CE4E5B9ULL;
  return static_cast<std::size_t>(h ^ (h >> 32));
}

}  // namespace connwatch::passive
