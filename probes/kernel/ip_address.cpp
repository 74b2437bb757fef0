#include "probes/kernel/ip_address.h"

#include <arpa/inet.h>

#include <cstring>

namespace connwatch::kernel {

IpAddress IpAddress::v4(const std::array<std::uint8_t, 4>& bytes) {
  IpAddress a;
  a.family_ = IpFamily::kIpv4;
  std::memcpy(a.bytes_.data(), bytes.data(), bytes.size());
  return a;
}

IpAddress IpAddress::v6(const std::array<std::uint8_t, 16>& bytes) {
  IpAddress a;
  a.family_ = IpFamily::kIpv6;
  a.bytes_ = bytes;
  return a;
}

IpAddress IpAddress::v6_normalized(const std::array<std::uint8_t, 16>& bytes) {
  static constexpr std::array<std::uint8_t, 12> kMappedPrefix = {0, 0, 0, 0, 0,    0,
                                                                 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(bytes.data(), kMappedPrefix.data(), kMappedPrefix.size()) == 0) {
    return v4({bytes[12], bytes[13], bytes[14], bytes[15]});
  }
  return v6(bytes);
}

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') {
    text = text.substr(1, text.size() - 2);
  }
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  const std::string z(text);
  std::array<std::uint8_t, 16> buf{};
  if (inet_pton(AF_INET, z.c_str(), buf.data()) == 1) {
    return v4({buf[0], buf[1], buf[2], buf[3]});
  }
  if (inet_pton(AF_INET6, z.c_str(), buf.data()) == 1) return v6(buf);
  return std::nullopt;
}

std::string IpAddress::to_string() const {
  char out[INET6_ADDRSTRLEN] = {};
  const int af = family_ == IpFamily::kIpv4 ? AF_INET : AF_INET6;
  if (inet_ntop(af, bytes_.data(), out, sizeof(out)) == nullptr) return "?";
  return out;
}

std::size_t IpAddress::hash() const {
  // FNV-1a over the significant bytes and the family: cheap, and good enough for a few thousand
  // destinations per collection.
  std::uint64_t h = 1469598103934665603ULL ^ static_cast<std::uint64_t>(family_);
  for (std::size_t i = 0; i < size(); ++i) {
    h ^= bytes_[i];
    h *= 1099511628211ULL;
  }
  return static_cast<std::size_t>(h);
}

}  // namespace connwatch::kernel
