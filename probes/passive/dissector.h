// The packet dissector: a pure function from captured bytes + link type to a TcpSegment.
//
// It never trusts a length field: every read is checked against the captured bytes, and every
// header length is checked against the enclosing IP length. Running out of captured bytes
// (snaplen) and lengths that contradict each other are different outcomes, as in tcpdump.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "probes/passive/link_type.h"
#include "probes/passive/tcp_segment.h"

namespace connwatch::passive {

// The bounds of what the dissector walks, shared with the capture filter (capture_filter.cpp),
// which must pass exactly what the dissector understands.
// VLAN tags before the EtherType: QinQ is two, carrier QinQinQ three; four leaves one spare.
inline constexpr int kMaxVlanTags = 4;
// IPv6 extension headers before TCP (RFC 8200 §4: a real stack sends at most hop-by-hop,
// destination options, routing, fragment, AH, destination options = 6).
inline constexpr int kMaxIpv6ExtensionHeaders = 8;
// NFLOG TLVs up to and including the payload one: the kernel (net/netfilter/nfnetlink_log.c,
// __build_packet_message) puts about fifteen attributes before NFULA_PAYLOAD when all are on.
inline constexpr int kMaxNflogTlvs = 20;

enum class DissectOutcome : std::uint8_t {
  kSegment,    // a TCP header up to and including the flags byte was read
  kNotTcp,     // well formed, but not a TCP segment with a header (other protocol, ARP,
               // non-first fragment, unsupported extension header or link protocol)
  kTruncated,  // the capture ends before the fields we need (snaplen too small)
  kMalformed,  // a version or length field is impossible or contradicts another
};

// Also the `reason` label of connwatch_capture_malformed_packets_total (truncated, malformed).
std::string_view to_string(DissectOutcome outcome);

struct DissectResult {
  DissectOutcome outcome = DissectOutcome::kNotTcp;
  TcpSegment segment;  // meaningful only when outcome == kSegment
};

DissectResult dissect(std::span<const std::uint8_t> packet, LinkType link);
// The same, written into `result` (reset first). Replay dissects into its batch's slot with it:
// copying the returned result there read the dissector's byte- and word-sized stores back with
// 16-byte loads, which cannot be store-forwarded and stalled on every packet.
void dissect(std::span<const std::uint8_t> packet, LinkType link, DissectResult& result);

}  // namespace connwatch::passive
