// Test helper: builds real wire-format packets (link header + IPv4/IPv6 + TCP) byte by byte, so
// dissector and pipeline tests feed exactly what a capture would hold.
#pragma once

#include <arpa/inet.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "net/ip_address.h"
#include "probes/passive/link_type.h"
#include "probes/passive/tcp_segment.h"

namespace connwatch::passive::testing {

struct Ipv6Extension {
  std::uint8_t type = 0;  // 0 hop-by-hop, 43 routing, 44 fragment, 51 AH, 60 destination opts
  std::size_t length = 8;
  std::uint16_t fragment_offset = 0;  // fragment header only, in 8-byte units
  std::uint32_t fragment_id = 0;
};

struct PacketSpec {
  std::string src = "10.0.0.1";
  std::string dst = "10.0.0.2";
  std::uint16_t src_port = 40000;
  std::uint16_t dst_port = 80;
  std::uint32_t seq = 1000;
  std::uint32_t ack = 0;
  std::uint8_t flags = tcp_flags::kSyn;
  std::uint8_t ttl = 64;
  std::uint16_t ip_id = 0x1234;
  std::size_t payload = 0;
  std::size_t tcp_options = 0;   // bytes, multiple of 4
  std::size_t ipv4_options = 0;  // bytes, multiple of 4
  std::vector<Ipv6Extension> ipv6_extensions;
  std::uint8_t protocol = 6;  // IPv4 protocol / last IPv6 next header
  std::uint16_t ipv4_fragment_offset = 0;

  // Link layer.
  std::vector<std::uint16_t> vlan_tpids;  // outermost first, e.g. {0x88A8, 0x8100}
  std::uint16_t pkttype = 0;              // SLL/SLL2: 0 host, 4 outgoing
  std::uint32_t ifindex = 7;
  bool null_big_endian = false;      // DLT_NULL written by a big-endian host
  std::uint32_t null_af_inet6 = 10;  // DLT_NULL/LOOP AF_INET6 value of the capturing OS
};

inline void put16(std::vector<std::uint8_t>& out, std::size_t at, std::uint16_t value) {
  out[at] = static_cast<std::uint8_t>(value >> 8);
  out[at + 1] = static_cast<std::uint8_t>(value);
}

inline void put32(std::vector<std::uint8_t>& out, std::size_t at, std::uint32_t value) {
  for (int i = 0; i < 4; ++i) out[at + i] = static_cast<std::uint8_t>(value >> (24 - 8 * i));
}

inline IpAddress address(const std::string& text) {
  const auto parsed = IpAddress::parse(text);
  if (!parsed) throw std::invalid_argument("bad address " + text);
  return *parsed;
}

inline std::vector<std::uint8_t> tcp_header(const PacketSpec& spec) {
  std::vector<std::uint8_t> tcp(20 + spec.tcp_options + spec.payload, 0);
  put16(tcp, 0, spec.src_port);
  put16(tcp, 2, spec.dst_port);
  put32(tcp, 4, spec.seq);
  put32(tcp, 8, spec.ack);
  tcp[12] = static_cast<std::uint8_t>(((20 + spec.tcp_options) / 4) << 4);
  tcp[13] = spec.flags;
  put16(tcp, 14, 65535);
  for (std::size_t i = 20; i < 20 + spec.tcp_options; ++i) tcp[i] = 1;  // NOP options
  return tcp;
}

// The IP packet (IPv4 or IPv6 by the address family of spec.src).
inline std::vector<std::uint8_t> ip_packet(const PacketSpec& spec) {
  const IpAddress src = address(spec.src);
  const IpAddress dst = address(spec.dst);
  const std::vector<std::uint8_t> tcp = tcp_header(spec);
  std::vector<std::uint8_t> out;
  if (src.is_v4()) {
    const std::size_t header = 20 + spec.ipv4_options;
    out.assign(header, 0);
    out[0] = static_cast<std::uint8_t>(0x40 | header / 4);
    put16(out, 2, static_cast<std::uint16_t>(header + tcp.size()));
    put16(out, 4, spec.ip_id);
    put16(out, 6, static_cast<std::uint16_t>(0x4000 | spec.ipv4_fragment_offset));
    out[8] = spec.ttl;
    out[9] = spec.protocol;
    for (int i = 0; i < 4; ++i) {
      out[12 + i] = src.bytes()[i];
      out[16 + i] = dst.bytes()[i];
    }
    for (std::size_t i = 20; i < header; ++i) out[i] = 1;  // NOP options
  } else {
    out.assign(40, 0);
    out[0] = 0x60;
    out[7] = spec.ttl;
    for (int i = 0; i < 16; ++i) {
      out[8 + i] = src.bytes()[i];
      out[24 + i] = dst.bytes()[i];
    }
    std::size_t next_at = 6;
    for (const Ipv6Extension& ext : spec.ipv6_extensions) {
      out[next_at] = ext.type;
      const std::size_t at = out.size();
      out.resize(at + ext.length, 0);
      if (ext.type == 44) {
        put16(out, at + 2, static_cast<std::uint16_t>(ext.fragment_offset << 3 | 1));
        put32(out, at + 4, ext.fragment_id);
      } else if (ext.type == 51) {
        out[at + 1] = static_cast<std::uint8_t>(ext.length / 4 - 2);
      } else {
        out[at + 1] = static_cast<std::uint8_t>(ext.length / 8 - 1);
      }
      next_at = at;
    }
    out[next_at] = spec.protocol;
    put16(out, 4, static_cast<std::uint16_t>(out.size() - 40 + tcp.size()));
  }
  out.insert(out.end(), tcp.begin(), tcp.end());
  return out;
}

// NFLOG as frame() builds it: the 4-byte header and three TLV headers' worth before the IP packet.
inline constexpr std::size_t kNflogHeaderLength = 32;

// The whole captured frame for `link`.
inline std::vector<std::uint8_t> frame(LinkType link, const PacketSpec& spec) {
  const std::vector<std::uint8_t> ip = ip_packet(spec);
  const bool v6 = (ip[0] >> 4) == 6;
  const std::uint16_t ethertype = v6 ? 0x86DD : 0x0800;
  std::vector<std::uint8_t> out;
  switch (link) {
    case LinkType::kEthernet: {
      out.assign(12, 0);
      for (int i = 0; i < 6; ++i) {
        out[i] = static_cast<std::uint8_t>(0x02 + i);
        out[6 + i] = static_cast<std::uint8_t>(0x12 + i);
      }
      for (const std::uint16_t tpid : spec.vlan_tpids) {
        const std::size_t at = out.size();
        out.resize(at + 4, 0);
        put16(out, at, tpid);
        put16(out, at + 2, 100);  // VLAN id 100
      }
      const std::size_t at = out.size();
      out.resize(at + 2);
      put16(out, at, ethertype);
      break;
    }
    case LinkType::kLinuxSll:
      out.assign(16, 0);
      put16(out, 0, spec.pkttype);
      put16(out, 2, 1);  // ARPHRD_ETHER
      put16(out, 4, 6);
      put16(out, 14, ethertype);
      break;
    case LinkType::kLinuxSll2:
      out.assign(20, 0);
      put16(out, 0, ethertype);
      put32(out, 4, spec.ifindex);
      put16(out, 8, 1);  // ARPHRD_ETHER
      out[10] = static_cast<std::uint8_t>(spec.pkttype);
      out[11] = 6;
      break;
    case LinkType::kNull:
    case LinkType::kLoop: {
      const std::uint32_t family = v6 ? spec.null_af_inet6 : 2;
      out.assign(4, 0);
      const bool big = link == LinkType::kLoop || spec.null_big_endian;
      if (big) {
        put32(out, 0, family);
      } else {
        for (int i = 0; i < 4; ++i) out[i] = static_cast<std::uint8_t>(family >> (8 * i));
      }
      break;
    }
    case LinkType::kRaw:
    case LinkType::kIpv4:
    case LinkType::kIpv6:
      break;
    case LinkType::kNflog: {
      // Header (family, version, resource id), then little-endian TLVs: NFULA_PACKET_HDR,
      // NFULA_PREFIX "connwatch" (10 bytes, padded to 4), and NFULA_PAYLOAD's header.
      out.assign(kNflogHeaderLength, 0);
      out[0] = v6 ? 10 : 2;
      const auto tlv_header = [&](std::size_t at, std::uint16_t length, std::uint16_t type) {
        out[at] = static_cast<std::uint8_t>(length);
        out[at + 1] = static_cast<std::uint8_t>(length >> 8);
        out[at + 2] = static_cast<std::uint8_t>(type);
        out[at + 3] = static_cast<std::uint8_t>(type >> 8);
      };
      tlv_header(4, 8, 1);
      put16(out, 8, ethertype);
      out[10] = 3;  // NF_INET_FORWARD
      tlv_header(12, 14, 10);
      const std::string prefix = "connwatch";
      for (std::size_t i = 0; i < prefix.size(); ++i) out[16 + i] = prefix[i];
      tlv_header(28, static_cast<std::uint16_t>(4 + ip.size()), 9);
      break;
    }
  }
  out.insert(out.end(), ip.begin(), ip.end());
  return out;
}

inline std::size_t link_header_length(LinkType link, const PacketSpec& spec) {
  switch (link) {
    case LinkType::kEthernet:
      return 14 + 4 * spec.vlan_tpids.size();
    case LinkType::kLinuxSll:
      return 16;
    case LinkType::kLinuxSll2:
      return 20;
    case LinkType::kNull:
    case LinkType::kLoop:
      return 4;
    case LinkType::kRaw:
    case LinkType::kIpv4:
    case LinkType::kIpv6:
      return 0;
    case LinkType::kNflog:
      return kNflogHeaderLength;
  }
  return 0;
}

// A TcpSegment as the dissector would produce it, for tracker tests that skip the bytes.
inline TcpSegment segment(const std::string& src, std::uint16_t src_port, const std::string& dst,
                          std::uint16_t dst_port, std::uint8_t flags, std::uint32_t seq,
                          std::uint32_t ack = 0, std::uint8_t ttl = 64, std::uint32_t ip_id = 0,
                          std::uint32_t payload = 0) {
  TcpSegment s;
  s.src = address(src);
  s.dst = address(dst);
  s.src_port = src_port;
  s.dst_port = dst_port;
  s.flags = flags;
  s.seq = seq;
  s.ack = ack;
  s.ttl = ttl;
  s.ip_id = ip_id;
  s.payload_length = payload;
  return s;
}

}  // namespace connwatch::passive::testing
