// FlowKey: a TCP 4-tuple in canonical order, so both directions of a connection share one key.
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>

#include "net/ip_address.h"
#include "probes/passive/tcp_segment.h"

namespace connwatch::passive {

// The shared address types (net/), by the names this module used before they were shared.
using net::IpAddress;

// Which endpoint of the canonical key sent a segment: kA is the lower (address, port).
enum class FlowSide : std::uint8_t { kA = 0, kB = 1 };

constexpr FlowSide opposite(FlowSide side) {
  return side == FlowSide::kA ? FlowSide::kB : FlowSide::kA;
}

struct FlowKey {
  // The 128-bit product of x and y, high half xor low half.
  static std::uint64_t fold(std::uint64_t x, std::uint64_t y) {
    __extension__ using Product = unsigned __int128;  // GCC/Clang; -Wpedantic otherwise objects
    const Product product = static_cast<Product>(x) * y;
    return static_cast<std::uint64_t>(product) ^ static_cast<std::uint64_t>(product >> 64);
  }

  IpAddress address_a;
  IpAddress address_b;
  std::uint16_t port_a = 0;
  std::uint16_t port_b = 0;

  // The key of the segment's connection and the side that sent it.
  static std::pair<FlowKey, FlowSide> of(const TcpSegment& segment) {
    std::pair<FlowKey, FlowSide> result;
    result.second = assign(segment, result.first);
    return result;
  }

  // The same, written into `key` in place (the batch path: a key built and then copied is read
  // back across mismatched stores, which stalls on store forwarding).
  static FlowSide assign(const TcpSegment& segment, FlowKey& key) {
    // Any total order works as long as both directions agree: compare the addresses as two
    // native 64-bit words, not lexicographically.
    std::uint64_t src[2];
    std::uint64_t dst[2];
    std::memcpy(src, segment.src.bytes().data(), sizeof(src));
    std::memcpy(dst, segment.dst.bytes().data(), sizeof(dst));
    const bool src_is_a = src[0] != dst[0]   ? src[0] < dst[0]
                          : src[1] != dst[1] ? src[1] < dst[1]
                                             : segment.src_port <= segment.dst_port;
    if (src_is_a) {
      key.address_a = segment.src;
      key.address_b = segment.dst;
      key.port_a = segment.src_port;
      key.port_b = segment.dst_port;
    } else {
      key.address_a = segment.dst;
      key.address_b = segment.src;
      key.port_a = segment.dst_port;
      key.port_b = segment.src_port;
    }
    return src_is_a ? FlowSide::kA : FlowSide::kB;
  }

  const IpAddress& address(FlowSide side) const {
    return side == FlowSide::kA ? address_a : address_b;
  }
  std::uint16_t port(FlowSide side) const { return side == FlowSide::kA ? port_a : port_b; }

  // Two 64x64->128-bit multiplies of the address words folded together ("folded multiply", as
  // wyhash does), then one more with the ports and family: three independent-ish products instead
  // of a chain of four dependent multiply-xorshift rounds (about half the latency and 15 fewer
  // instructions a packet). Both directions hash the same because the key is canonical.
  std::uint32_t hash() const { return hash_of(address_a, address_b, port_a, port_b); }

  // hash() of the key these fields would make, read where they already are (a TcpSegment):
  // hashing a FlowKey just built reads its bytes back at other offsets than they were written,
  // which stalls on store forwarding (tests/bench/passive_replay_bench.sh: a fifth of replay).
  static std::uint32_t hash_of(const IpAddress& address_a, const IpAddress& address_b,
                               std::uint16_t port_a, std::uint16_t port_b) {
    std::uint64_t words[4];
    std::memcpy(&words[0], address_a.bytes().data(), 8);
    std::memcpy(&words[1], address_a.bytes().data() + 8, 8);
    std::memcpy(&words[2], address_b.bytes().data(), 8);
    std::memcpy(&words[3], address_b.bytes().data() + 8, 8);
    const std::uint64_t rest = (static_cast<std::uint64_t>(port_a) << 16 | port_b) ^
                               static_cast<std::uint64_t>(address_a.family()) << 40;
    const std::uint64_t a =
        fold(words[0] ^ 0xA0761D6478BD642FULL, words[1] ^ 0xE7037ED1A0B428DBULL);
    const std::uint64_t b =
        fold(words[2] ^ 0x8EBC6AF09C88C6E3ULL, words[3] ^ 0x589965CC75374CC3ULL);
    // The folded product's halves are nearly linear in a port for a fixed address pair, which
    // filled neighbouring index slots in runs (linear probing); one multiply-xorshift spreads it.
    std::uint64_t h = fold(a ^ rest, b ^ 0x1D8E4E27C47D124FULL);
    h = (h ^ (h >> 32)) * 0x9E3779B97F4A7C15ULL;
    return static_cast<std::uint32_t>(h >> 32);
  }

  // Byte comparison: the key has no padding (static_assert below), and this is the hottest
  // comparison of the packet path. memcmp of a constant size compiles to loads straight from both
  // keys; copying them into word arrays first stalled on store forwarding.
  friend bool operator==(const FlowKey& a, const FlowKey& b) {
    static_assert(sizeof(FlowKey) == 38);
    return std::memcmp(&a, &b, sizeof(FlowKey)) == 0;
  }
};

static_assert(std::has_unique_object_representations_v<FlowKey>,
              "FlowKey is compared with memcmp: it must not contain padding");

}  // namespace connwatch::passive
