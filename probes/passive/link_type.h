// LinkType: the link-layer framings the dissector understands, mapped from pcap DLT_* values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace connwatch::passive {

enum class LinkType {
  kEthernet,   // DLT_EN10MB, with 802.1Q / 802.1ad (QinQ) tags
  kLinuxSll,   // DLT_LINUX_SLL, 16-byte cooked header ("any" before libpcap 1.10)
  kLinuxSll2,  // DLT_LINUX_SLL2, 20-byte cooked header with ifindex
  kNull,       // DLT_NULL, 4-byte address family in the capturing host's byte order
  kLoop,       // DLT_LOOP, 4-byte address family in network byte order
  kRaw,        // DLT_RAW, IPv4 or IPv6 chosen by the version nibble
  kIpv4,       // DLT_IPV4
  kIpv6,       // DLT_IPV6
  kNflog,      // DLT_NFLOG, iptables/nftables NFLOG: a 4-byte header, then TLVs, one of them the
               // IP packet (what `nflog:GROUP` interfaces and their pcaps hold)
};

std::string_view to_string(LinkType link);

// The pcap data link type (pcap_datalink()) for a framing, and back; nullopt = not supported.
int to_dlt(LinkType link);
std::optional<LinkType> link_type_from_dlt(int dlt);
// The LINKTYPE_* value a capture file stores (pcap header, pcapng interface block), which is the
// DLT_* value except for raw IP (LINKTYPE_RAW = 101); nullopt = not supported.
std::optional<LinkType> link_type_from_linktype(std::uint32_t linktype);
// A name for a LINKTYPE_* value in messages ("IEEE802_11", or the number).
std::string linktype_name(std::uint32_t linktype);

}  // namespace connwatch::passive
