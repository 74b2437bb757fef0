#include "net/ip_address.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

namespace connwatch::net {
namespace {

constexpr std::array<std::uint8_t, 12> kMappedPrefix = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

void append_dotted_quad(std::string& out, const std::uint8_t* bytes) {
  for (int i = 0; i < 4; ++i) {
    if (i > 0) out += '.';
    out += std::to_string(bytes[i]);
  }
}

void append_hex_field(std::string& out, unsigned field) {
  static constexpr char kDigits[] = "0123456789abcdef";
  bool started = false;
  for (int shift = 12; shift >= 0; shift -= 4) {
    const unsigned digit = (field >> shift) & 0xfU;
    if (digit != 0 || started || shift == 0) {
      out += kDigits[digit];
      started = true;
    }
  }
}

}  // namespace

IpAddress IpAddress::v6_unmapped(std::span<const std::uint8_t, 16> bytes) {
  if (std::equal(kMappedPrefix.begin(), kMappedPrefix.end(), bytes.begin())) {
    return v4(bytes.last<4>());
  }
  return v6(bytes);
}

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  // Longer than the longest text inet_pton accepts: refused without copying it.
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  const std::string nul_terminated(text);
  std::array<std::uint8_t, 16> buf{};
  if (inet_pton(AF_INET, nul_terminated.c_str(), buf.data()) == 1) {
    return v4(std::span(buf).first<4>());
  }
  if (inet_pton(AF_INET6, nul_terminated.c_str(), buf.data()) == 1) return v6(buf);
  return std::nullopt;
}

std::string IpAddress::to_string() const {
  std::string out;
  if (is_v4()) {
    append_dotted_quad(out, bytes_.data());
  } else if (std::equal(kMappedPrefix.begin(), kMappedPrefix.end(), bytes_.begin())) {
    out = "::ffff:";  // RFC 5952 §5
    append_dotted_quad(out, bytes_.data() + 12);
  } else {
    std::array<unsigned, 8> fields{};
    for (std::size_t i = 0; i < fields.size(); ++i) {
      fields[i] = static_cast<unsigned>(bytes_[2 * i] << 8U | bytes_[2 * i + 1]);
    }
    // RFC 5952 §4.2: the longest run of zero fields, the first of equal ones, at least two long.
    std::size_t best_start = fields.size();
    std::size_t best_length = 1;
    for (std::size_t i = 0; i < fields.size();) {
      if (fields[i] != 0) {
        ++i;
        continue;
      }
      std::size_t end = i;
      while (end < fields.size() && fields[end] == 0) ++end;
      if (end - i > best_length) {
        best_start = i;
        best_length = end - i;
      }
      i = end;
    }
    for (std::size_t i = 0; i < fields.size(); ++i) {
      if (i == best_start) {
        out += "::";
        i += best_length - 1;
        continue;
      }
      if (i > 0 && i != best_start + best_length) out += ':';
      append_hex_field(out, fields[i]);
    }
  }
  return out;
}

std::size_t IpAddress::hash() const {
  // Seeded with 0 for IPv4 and 1 for IPv6, as the kernel probe's hash was: the same iteration
  // order of its destination maps, so ties in top-K come out as they did.
  std::uint64_t h = 1469598103934665603ULL ^ (is_v4() ? 0U : 1U);
  for (std::size_t i = 0; i < size(); ++i) {
    h ^= bytes_[i];
    h *= 1099511628211ULL;
  }
  return static_cast<std::size_t>(h);
}

}  // namespace connwatch::net
