// DuplicateFilter: remembers the segments seen in the last kWindow, keyed on what NAT does not
// rewrite, so one segment captured twice on "any" counts once (SPEC §4; TCP-NOTES §7).
//
// A segment crossing this host is captured once per interface: a bridge and its port (same
// 4-tuple), or before and after NAT (MASQUERADE/SNAT rewrite the source, a NodePort's DNAT the
// destination). Sequence and acknowledgment numbers, flags, window and payload length survive
// all of these; TTL does not (forwarding decrements it) and neither does the 4-tuple. Those five
// fields are hashed to 64 bits: the low bits pick a slot of a direct-mapped table, the high 32
// bits are the tag. A slot also says which 4-tuple view (its hash) and which tracked flow the
// first copy went to, so the tracker can tell a bridge copy (same view) from a NAT copy (another
// view of the same connection) and link the two views. The copies' TTLs may differ by the
// routing hops between the two capture points inside this host (kMaxHostHops), no more: a RST
// with the same numbers but a far-off TTL is another sender's (an injector racing the peer).
//
// Memory: kSlots * 24 bytes = 96 KiB, small enough to stay in L2: every packet probes one slot,
// and a 384 KiB table (2^14 slots) cost 17% more CPU in tests/bench/passive_replay_bench.sh than
// without de-duplication, this one about 3%. A later segment landing in the same slot between two
// copies pushes the first out (the second copy is then counted): copies of one segment are
// usually a few segments apart, so that is k/4096 for k segments in between.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "probes/passive/flow_table.h"
#include "probes/passive/tcp_segment.h"

namespace connwatch::passive {

class DuplicateFilter {
 public:
  // Copies of one segment on two interfaces of one host are microseconds apart (one softirq
  // forwards it), a few milliseconds under qdisc backlog. TCP's own retransmissions of a control
  // segment come no sooner than TCP_RTO_MIN = 200 ms (a SYN after 1 s), and one caught by the
  // window would only be ignored, never miscounted. 50 ms is well clear of both.
  static constexpr PacketTime kWindow = std::chrono::milliseconds(50);
  static constexpr std::size_t kSlots = std::size_t{1} << 12;
  // Namespaces a packet can be routed through on one host (pod, node, a VPN or overlay hop).
  static constexpr int kMaxHostHops = 8;

  struct Seen {
    std::uint32_t tag = 0;            // high half of the fingerprint; 0 = empty
    std::uint32_t time_low = 0;       // low 32 bits of microseconds: differences up to 71 min
    std::uint32_t view_hash = 0;      // FlowKey::hash() of the 4-tuple the copy carried
    std::uint32_t flow_position = 0;  // the tracked flow it was applied to (FlowTable handle)
    std::uint32_t flow_hash = 0;
    std::uint8_t flow_side = 0;  // the sender, as a FlowSide of that flow
    std::uint8_t ttl = 0;        // the first copy's TTL / hop limit
  };

  DuplicateFilter() : slots_(kSlots) {}

  static std::uint64_t fingerprint(const TcpSegment& segment) {
    std::uint64_t h =
        (static_cast<std::uint64_t>(segment.seq) << 32 | segment.ack) * 0x9E3779B97F4A7C15ULL;
    h ^= (static_cast<std::uint64_t>(segment.payload_length) << 24 |
          static_cast<std::uint64_t>(segment.window) << 8 | segment.flags) *
         0xC2B2AE3D27D4EB4FULL;
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9ULL;
    return h ^ (h >> 32);
  }

  // Issued with the flow index's prefetch, so the two cache misses of a packet overlap.
  void prefetch(std::uint64_t fingerprint) const {
    prefetch_line(&slots_[fingerprint & (kSlots - 1)]);
  }

  // The earlier copy of this segment inside the window, or nullptr.
  const Seen* find(std::uint64_t fingerprint, PacketTime now, std::uint8_t ttl) const {
    const Seen& slot = slots_[fingerprint & (kSlots - 1)];
    if (slot.tag != tag_of(fingerprint)) return nullptr;
    if (slot.ttl > ttl ? slot.ttl - ttl > kMaxHostHops : ttl - slot.ttl > kMaxHostHops) {
      return nullptr;
    }
    const auto age =
        static_cast<std::int32_t>(static_cast<std::uint32_t>(now.count()) - slot.time_low);
    const auto window = static_cast<std::int32_t>(kWindow.count());
    return age >= -window && age <= window ? &slot : nullptr;
  }

  void remember(std::uint64_t fingerprint, PacketTime now, const Seen& seen) {
    Seen& slot = slots_[fingerprint & (kSlots - 1)];
    slot = seen;
    slot.tag = tag_of(fingerprint);
    slot.time_low = static_cast<std::uint32_t>(now.count());
  }

 private:
  static std::uint32_t tag_of(std::uint64_t fingerprint) {
    const auto tag = static_cast<std::uint32_t>(fingerprint >> 32);
    return tag == 0 ? 1 : tag;
  }

  std::vector<Seen> slots_;
};

}  // namespace connwatch::passive
