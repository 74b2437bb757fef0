// TcpSegment: the fields of one captured TCP segment that the flow tracker needs.
#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>

#include "net/ip_address.h"

namespace connwatch::passive {

// The shared address types (net/), by the names this module used before they were shared.
using net::IpAddress;

// Capture timestamps (pcap_pkthdr::ts) as time since the Unix epoch.
using PacketTime = std::chrono::microseconds;

// TCP header flag bits, byte 13 of the header (RFC 9293 §3.1).
namespace tcp_flags {
inline constexpr std::uint8_t kFin = 0x01;
inline constexpr std::uint8_t kSyn = 0x02;
inline constexpr std::uint8_t kRst = 0x04;
inline constexpr std::uint8_t kPsh = 0x08;
inline constexpr std::uint8_t kAck = 0x10;
inline constexpr std::uint8_t kUrg = 0x20;
}  // namespace tcp_flags

// Which way a packet crossed this host, when the link header says so (Linux cooked captures
// carry the kernel's pkttype: PACKET_HOST / PACKET_OUTGOING, see <linux/if_packet.h>).
enum class Direction : std::uint8_t { kUnknown, kIncoming, kOutgoing };

std::string_view to_string(Direction direction);

struct TcpSegment {
  IpAddress src;
  IpAddress dst;
  std::uint16_t src_port = 0;
  std::uint16_t dst_port = 0;
  std::uint32_t seq = 0;
  std::uint32_t ack = 0;
  std::uint8_t flags = 0;
  std::uint8_t ttl = 0;      // IPv4 TTL or IPv6 hop limit
  std::uint16_t window = 0;  // as sent (unscaled); 0 when the capture cut it off
  // IPv4 Identification; for IPv6 the Fragment header's Identification, else 0.
  std::uint32_t ip_id = 0;
  // TCP payload bytes according to the IP length fields, not the (snaplen-cut) capture: a FIN
  // occupies sequence number seq + payload_length.
  std::uint32_t payload_length = 0;
  Direction direction = Direction::kUnknown;
  std::uint32_t ifindex = 0;  // SLL2 only; 0 = unknown

  bool has(std::uint8_t flag) const { return (flags & flag) != 0; }
};

}  // namespace connwatch::passive
