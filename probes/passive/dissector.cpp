#include "probes/passive/dissector.h"

#include <cstddef>
#include <cstring>
#include <optional>

namespace connwatch::passive {
namespace {

constexpr std::uint16_t kEtherTypeIpv4 = 0x0800;
constexpr std::uint16_t kEtherTypeIpv6 = 0x86DD;
constexpr std::uint16_t kEtherTypeVlan = 0x8100;        // 802.1Q
constexpr std::uint16_t kEtherTypeQinq = 0x88A8;        // 802.1ad service tag
constexpr std::uint16_t kEtherTypeQinqLegacy = 0x9100;  // pre-standard QinQ

constexpr std::size_t kEthernetHeader = 14;
constexpr std::size_t kSllHeader = 16;   // pcap/sll.h SLL_HDR_LEN
constexpr std::size_t kSll2Header = 20;  // pcap/sll.h SLL2_HDR_LEN
constexpr std::size_t kNullHeader = 4;
constexpr std::size_t kVlanTag = 4;
constexpr std::size_t kIpv4MinHeader = 20;
constexpr std::size_t kIpv6Header = 40;
constexpr std::size_t kTcpMinHeader = 20;
// Ports, seq, ack, data offset and flags: bytes 0..13 of the TCP header. The window (14..15) is
// read when captured (de-duplication uses it), so a snaplen that cuts into it still yields a
// segment.
constexpr std::size_t kTcpNeeded = 14;
constexpr std::size_t kTcpWithWindow = 16;
constexpr std::size_t kNflogHeader = 4;  // family, version, resource id
constexpr std::size_t kNflogTlvHeader = 4;
constexpr std::uint16_t kNflogPayload = 9;        // NFULA_PAYLOAD (linux/netfilter/nfnetlink_log.h)
constexpr std::uint16_t kNflogTypeMask = 0x3FFF;  // without NLA_F_NESTED / NLA_F_NET_BYTEORDER

constexpr std::uint8_t kProtoTcp = 6;
constexpr std::uint8_t kIpv6HopByHop = 0;
constexpr std::uint8_t kIpv6Routing = 43;
constexpr std::uint8_t kIpv6Fragment = 44;
constexpr std::uint8_t kIpv6Ah = 51;
constexpr std::uint8_t kIpv6NoNext = 59;
constexpr std::uint8_t kIpv6DestOpts = 60;
constexpr std::uint8_t kIpv6Mobility = 135;
constexpr std::uint8_t kIpv6Hip = 139;
constexpr std::uint8_t kIpv6Shim6 = 140;

// BSD AF_INET6 differs per OS; DLT_NULL files carry the capturing host's value (pcap-linktype).
constexpr std::uint32_t kAfInet = 2;
constexpr std::uint32_t kAfInet6Linux = 10;
constexpr std::uint32_t kAfInet6NetBsd = 24;
constexpr std::uint32_t kAfInet6FreeBsd = 28;
constexpr std::uint32_t kAfInet6Darwin = 30;

// Linux pkttype values (<linux/if_packet.h>).
constexpr std::uint16_t kPacketHost = 0;
constexpr std::uint16_t kPacketBroadcast = 1;
constexpr std::uint16_t kPacketMulticast = 2;
constexpr std::uint16_t kPacketOutgoing = 4;

// Reads only after the caller checked `offset + N <= bytes.size()`. One load and a byte swap each
// (GCC 12 left the byte-by-byte form as separate byte loads and shifts: about 30 instructions a
// packet).
std::uint16_t be16(std::span<const std::uint8_t> bytes, std::size_t offset) {
  std::uint16_t value;
  std::memcpy(&value, bytes.data() + offset, sizeof(value));
  return __builtin_bswap16(value);
}
std::uint32_t be32(std::span<const std::uint8_t> bytes, std::size_t offset) {
  std::uint32_t value;
  std::memcpy(&value, bytes.data() + offset, sizeof(value));
  return __builtin_bswap32(value);
}

std::uint16_t le16(std::span<const std::uint8_t> bytes, std::size_t offset) {
  return static_cast<std::uint16_t>(bytes[offset + 1] << 8 | bytes[offset]);
}

std::uint32_t le32(std::span<const std::uint8_t> bytes, std::size_t offset) {
  return static_cast<std::uint32_t>(bytes[offset + 3]) << 24 |
         static_cast<std::uint32_t>(bytes[offset + 2]) << 16 |
         static_cast<std::uint32_t>(bytes[offset + 1]) << 8 |
         static_cast<std::uint32_t>(bytes[offset]);
}

bool has(std::span<const std::uint8_t> bytes, std::size_t offset, std::size_t count) {
  return offset <= bytes.size() && count <= bytes.size() - offset;
}

Direction direction_from_pkttype(std::uint16_t pkttype) {
  switch (pkttype) {
    case kPacketHost:
    case kPacketBroadcast:
    case kPacketMulticast:
      return Direction::kIncoming;
    case kPacketOutgoing:
      return Direction::kOutgoing;
    default:  // PACKET_OTHERHOST (promiscuous) and loopback-internal types
      return Direction::kUnknown;
  }
}

// Fills the caller's segment in place and returns the outcome: no TcpSegment copies on the
// per-packet path.
class Dissector {
 public:
  Dissector(std::span<const std::uint8_t> bytes, TcpSegment& segment)
      : bytes_(bytes), segment_(segment) {}

  DissectOutcome run(LinkType link) {
    switch (link) {
      case LinkType::kEthernet:
        return ethernet();
      case LinkType::kLinuxSll:
        return sll();
      case LinkType::kLinuxSll2:
        return sll2();
      case LinkType::kNull:
        return null_header(/*network_order=*/false);
      case LinkType::kLoop:
        return null_header(/*network_order=*/true);
      case LinkType::kRaw:
        return raw(0);
      case LinkType::kIpv4:
        return ipv4(0);
      case LinkType::kIpv6:
        return ipv6(0);
      case LinkType::kNflog:
        return nflog();
    }
    return DissectOutcome::kNotTcp;
  }

 private:
  static DissectOutcome outcome(DissectOutcome value) { return value; }

  DissectOutcome ethernet() {
    if (!has(bytes_, 0, kEthernetHeader)) return outcome(DissectOutcome::kTruncated);
    return ethertype(be16(bytes_, 12), kEthernetHeader);
  }

  // The protocol field alone decides, as in the capture filter (which cannot read the hatype on
  // a live cooked socket): nlmon captures (ARPHRD_NETLINK) carry a netlink family (< 32) there,
  // never an IP EtherType.
  DissectOutcome sll() {
    if (!has(bytes_, 0, kSllHeader)) return outcome(DissectOutcome::kTruncated);
    segment_.direction = direction_from_pkttype(be16(bytes_, 0));
    return ethertype(be16(bytes_, 14), kSllHeader);
  }

  DissectOutcome sll2() {
    if (!has(bytes_, 0, kSll2Header)) return outcome(DissectOutcome::kTruncated);
    segment_.ifindex = be32(bytes_, 4);
    segment_.direction = direction_from_pkttype(bytes_[10]);
    return ethertype(be16(bytes_, 0), kSll2Header);
  }

  // DLT_NULL stores the family in the capturing host's byte order, so a file from a big-endian
  // machine reads "backwards" here; a valid family is small, which tells the two orders apart.
  DissectOutcome null_header(bool network_order) {
    if (!has(bytes_, 0, kNullHeader)) return outcome(DissectOutcome::kTruncated);
    std::uint32_t family = network_order ? be32(bytes_, 0) : le32(bytes_, 0);
    if (family > 0xFFFF) family = network_order ? le32(bytes_, 0) : be32(bytes_, 0);
    switch (family) {
      case kAfInet:
        return ipv4(kNullHeader);
      case kAfInet6Linux:
      case kAfInet6NetBsd:
      case kAfInet6FreeBsd:
      case kAfInet6Darwin:
        return ipv6(kNullHeader);
      default:
        return outcome(DissectOutcome::kNotTcp);
    }
  }

  // LINKTYPE_NFLOG: TLV lengths and types are in the capturing host's byte order, which libpcap
  // converts to the reader's; little-endian here. Each TLV is padded to 4 bytes.
  DissectOutcome nflog() {
    if (!has(bytes_, 0, kNflogHeader)) return outcome(DissectOutcome::kTruncated);
    const std::uint8_t family = bytes_[0];
    std::size_t cursor = kNflogHeader;
    for (int tlvs = 0; tlvs < kMaxNflogTlvs; ++tlvs) {
      if (!has(bytes_, cursor, kNflogTlvHeader)) return outcome(DissectOutcome::kTruncated);
      const std::size_t length = le16(bytes_, cursor);
      if (length < kNflogTlvHeader) return outcome(DissectOutcome::kMalformed);
      if ((le16(bytes_, cursor + 2) & kNflogTypeMask) == kNflogPayload) {
        const std::size_t start = cursor + kNflogTlvHeader;
        switch (family) {
          case kAfInet:
            return ipv4(start);
          case kAfInet6Linux:
            return ipv6(start);
          default:
            return outcome(DissectOutcome::kNotTcp);
        }
      }
      cursor += (length + 3) & ~std::size_t{3};
    }
    return outcome(DissectOutcome::kNotTcp);
  }

  DissectOutcome ethertype(std::uint16_t type, std::size_t offset) {
    for (int tags = 0;; ++tags) {
      switch (type) {
        case kEtherTypeIpv4:
          return ipv4(offset);
        case kEtherTypeIpv6:
          return ipv6(offset);
        case kEtherTypeVlan:
        case kEtherTypeQinq:
        case kEtherTypeQinqLegacy:
          if (tags == kMaxVlanTags) return outcome(DissectOutcome::kNotTcp);
          if (!has(bytes_, offset, kVlanTag)) return outcome(DissectOutcome::kTruncated);
          type = be16(bytes_, offset + 2);  // the tag is TCI(2) + inner EtherType(2)
          offset += kVlanTag;
          break;
        default:
          return outcome(DissectOutcome::kNotTcp);
      }
    }
  }

  DissectOutcome raw(std::size_t offset) {
    if (!has(bytes_, offset, 1)) return outcome(DissectOutcome::kTruncated);
    switch (bytes_[offset] >> 4) {
      case 4:
        return ipv4(offset);
      case 6:
        return ipv6(offset);
      default:
        return outcome(DissectOutcome::kMalformed);
    }
  }

  DissectOutcome ipv4(std::size_t offset) {
    if (!has(bytes_, offset, kIpv4MinHeader)) return outcome(DissectOutcome::kTruncated);
    if (bytes_[offset] >> 4 != 4) return outcome(DissectOutcome::kMalformed);
    const std::size_t header_length = static_cast<std::size_t>(bytes_[offset] & 0x0F) * 4;
    if (header_length < kIpv4MinHeader) return outcome(DissectOutcome::kMalformed);
    const std::size_t total_length = be16(bytes_, offset + 2);
    // Total length 0 is what TSO/BIG TCP super-packets show in a capture; like tcpdump
    // (print-ip.c), fall back to the captured length instead of calling it malformed.
    std::optional<std::size_t> ip_payload;
    if (total_length != 0) {
      if (total_length < header_length) return outcome(DissectOutcome::kMalformed);
      ip_payload = total_length - header_length;
    }
    // A non-first fragment carries payload bytes, not a TCP header (RFC 791).
    if ((be16(bytes_, offset + 6) & 0x1FFF) != 0) return outcome(DissectOutcome::kNotTcp);
    if (bytes_[offset + 9] != kProtoTcp) return outcome(DissectOutcome::kNotTcp);

    segment_.ttl = bytes_[offset + 8];
    segment_.ip_id = be16(bytes_, offset + 4);
    segment_.src.assign_v4(std::span<const std::uint8_t, 4>(&bytes_[offset + 12], 4));
    segment_.dst.assign_v4(std::span<const std::uint8_t, 4>(&bytes_[offset + 16], 4));
    // Options are skipped, not read: only their length matters and it came from the IHL.
    if (!has(bytes_, offset, header_length)) return outcome(DissectOutcome::kTruncated);
    return tcp(offset + header_length, ip_payload);
  }

  DissectOutcome ipv6(std::size_t offset) {
    if (!has(bytes_, offset, kIpv6Header)) return outcome(DissectOutcome::kTruncated);
    if (bytes_[offset] >> 4 != 6) return outcome(DissectOutcome::kMalformed);
    const std::size_t payload_length = be16(bytes_, offset + 4);
    std::uint8_t next = bytes_[offset + 6];
    segment_.ttl = bytes_[offset + 7];
    segment_.src.assign_v6(std::span<const std::uint8_t, 16>(&bytes_[offset + 8], 16));
    segment_.dst.assign_v6(std::span<const std::uint8_t, 16>(&bytes_[offset + 24], 16));

    // Payload length 0 means a jumbogram (RFC 2675) or a BIG TCP packet: no bound but the capture.
    const bool bounded = payload_length != 0;
    const std::size_t end = offset + kIpv6Header + payload_length;
    std::size_t cursor = offset + kIpv6Header;
    // headers = extension headers walked so far; the last pass only accepts TCP.
    for (int headers = 0; headers <= kMaxIpv6ExtensionHeaders; ++headers) {
      if (headers == kMaxIpv6ExtensionHeaders && next != kProtoTcp) {
        return outcome(DissectOutcome::kNotTcp);
      }
      switch (next) {
        case kProtoTcp: {
          std::optional<std::size_t> ip_payload;
          if (bounded) ip_payload = end - cursor;
          return tcp(cursor, ip_payload);
        }
        case kIpv6HopByHop:
        case kIpv6Routing:
        case kIpv6DestOpts:
        case kIpv6Mobility:
        case kIpv6Hip:
        case kIpv6Shim6:
        case kIpv6Fragment:
        case kIpv6Ah: {
          if (bounded && end - cursor < 8) return outcome(DissectOutcome::kMalformed);
          if (!has(bytes_, cursor, 8)) return outcome(DissectOutcome::kTruncated);
          std::size_t length = 8;
          if (next == kIpv6Ah) {
            length = (static_cast<std::size_t>(bytes_[cursor + 1]) + 2) * 4;  // RFC 4302 §2.2
          } else if (next != kIpv6Fragment) {
            length = (static_cast<std::size_t>(bytes_[cursor + 1]) + 1) * 8;  // RFC 8200 §4.3
          }
          if (bounded && end - cursor < length) return outcome(DissectOutcome::kMalformed);
          if (next == kIpv6Fragment) {
            segment_.ip_id = be32(bytes_, cursor + 4);
            // Fragment offset != 0: no TCP header in this fragment (RFC 8200 §4.5).
            if ((be16(bytes_, cursor + 2) >> 3) != 0) return outcome(DissectOutcome::kNotTcp);
          }
          next = bytes_[cursor];
          cursor += length;
          break;
        }
        case kIpv6NoNext:
        default:
          return outcome(DissectOutcome::kNotTcp);
      }
    }
    return outcome(DissectOutcome::kNotTcp);
  }

  // ip_payload: the TCP segment's length per the IP header, or nullopt when it gave none.
  DissectOutcome tcp(std::size_t offset, std::optional<std::size_t> ip_payload) {
    if (ip_payload && *ip_payload < kTcpMinHeader) return outcome(DissectOutcome::kMalformed);
    if (!has(bytes_, offset, kTcpNeeded)) return outcome(DissectOutcome::kTruncated);
    const std::size_t data_offset = static_cast<std::size_t>(bytes_[offset + 12] >> 4) * 4;
    if (data_offset < kTcpMinHeader) return outcome(DissectOutcome::kMalformed);
    if (ip_payload && data_offset > *ip_payload) return outcome(DissectOutcome::kMalformed);

    segment_.src_port = be16(bytes_, offset);
    segment_.dst_port = be16(bytes_, offset + 2);
    segment_.seq = be32(bytes_, offset + 4);
    segment_.ack = be32(bytes_, offset + 8);
    segment_.flags = bytes_[offset + 13];
    segment_.window = has(bytes_, offset, kTcpWithWindow) ? be16(bytes_, offset + 14) : 0;
    if (ip_payload) {
      segment_.payload_length = static_cast<std::uint32_t>(*ip_payload - data_offset);
    } else {
      const std::size_t captured = bytes_.size() - offset;
      segment_.payload_length =
          captured > data_offset ? static_cast<std::uint32_t>(captured - data_offset) : 0;
    }
    return DissectOutcome::kSegment;
  }

  std::span<const std::uint8_t> bytes_;
  TcpSegment& segment_;
};

}  // namespace

std::string_view to_string(DissectOutcome outcome) {
  switch (outcome) {
    case DissectOutcome::kSegment:
      return "segment";
    case DissectOutcome::kNotTcp:
      return "not_tcp";
    case DissectOutcome::kTruncated:
      return "truncated";
    case DissectOutcome::kMalformed:
      return "malformed";
  }
  return "malformed";
}

DissectResult dissect(std::span<const std::uint8_t> packet, LinkType link) {
  DissectResult result;
  dissect(packet, link, result);
  return result;
}

void dissect(std::span<const std::uint8_t> packet, LinkType link, DissectResult& result) {
  result = DissectResult{};
  result.outcome = Dissector(packet, result.segment).run(link);
}

}  // namespace connwatch::passive
