// FlowTracker: turns captured SYN/FIN/RST segments into connection events (handshakes, resets
// with sender and phase, TIME_WAIT entries, closes, suspected middlebox resets), one connection
// at a time.
//
// It sees only what the capture filter passes: SYN, FIN and RST segments, never pure ACKs or
// data. A flow is one FlowState (flow_state.h) changed only by transition(); the states, what
// every segment does in each, the timeouts and the NAT de-duplication are in
// probes/passive/FLOWS.md (rules from SPEC §2, §3, §4 and TCP-NOTES §1, §2, §7).
#pragma once

#include <array>
#include <bitset>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "net/ip_address.h"
#include "probes/passive/duplicate_filter.h"
#include "probes/passive/flow_key.h"
#include "probes/passive/flow_labels.h"
#include "probes/passive/flow_state.h"
#include "probes/passive/flow_table.h"
#include "probes/passive/tcp_segment.h"

namespace connwatch::passive {

// The shared address types (net/), by the names this module used before they were shared.
using net::IpAddress;

struct FlowTrackerOptions {
  std::size_t max_flows = 262144;
  // Opening flows (a SYN without answer) are dropped after this long without a segment.
  std::chrono::seconds flow_idle_timeout{300};
  // Established and half-closed flows: the capture sees no data segments, so their age is not
  // idleness; kept this long after their last control segment, or until max_flows pressure
  // evicts the least recently seen (SPEC §3 capture.established_timeout).
  std::chrono::seconds established_timeout{7200};
  std::vector<std::uint16_t> ports;  // service ports: server role and their own `port` label
  std::size_t max_peers = 20;        // peers with their own series; the rest are "other"
  // This host's addresses, to tell the remote peer when the link header gives no direction.
  // LiveCapture fills it from getifaddrs(); replay leaves it empty.
  std::vector<IpAddress> local_addresses;
};

struct ResetEvent {
  ResetSender sender = ResetSender::kUnknown;
  ResetPhase phase = ResetPhase::kEstablished;
  bool suspected_middlebox = false;
  std::uint8_t ttl = 0;       // the RST's own TTL
  std::uint8_t flow_ttl = 0;  // the TTL the same sender's earlier segments carried; 0 = none seen
  IpAddress peer;             // the remote end of the connection, as seen from this host
};

// What one segment meant. Most segments mean nothing new (retransmissions, the first FIN).
struct Observation {
  bool duplicate = false;          // the same segment seen again within the dedupe window
  bool connection_opened = false;  // the first SYN-ACK of a connection: a handshake seen
  std::optional<ResetEvent> reset;
  // An earlier, already counted reset of this connection turned out injected: the segment that
  // followed it gave it away (a SYN-ACK or data-carrying FIN from the side the RST claimed, or a
  // RST from that side with another TTL). Counts as a suspected middlebox reset only.
  std::optional<ResetEvent> injected_reset;
  std::array<bool, kTimeWaitSides.size()> time_wait{};  // indexed by TimeWaitSide
  std::optional<CloseHow> close;
  PortLabel port = PortLabel::other();

  // Whether anything is counted for it (most segments: no).
  bool counts() const {
    return duplicate || connection_opened || reset || injected_reset || time_wait[0] ||
           time_wait[1] || close;
  }
};

class FlowTracker {
 private:
  // Roles: which side sent the SYN. Known from the handshake, else guessed from ports.
  enum class ClientSide : std::uint8_t { kUnknown, kA, kB };
  // The remote end of the connection, when two NAT views of it showed which end they share.
  enum class RemoteSide : std::uint8_t { kUnknown, kA, kB };

  struct Flow {
    FlowState state = FlowState::kNew;
    ClientSide client = ClientSide::kUnknown;
    RemoteSide remote = RemoteSide::kUnknown;
    std::uint8_t first_fin_side = 0;
    std::uint8_t reset_side = 0;
    std::uint8_t reset_ttl = 0;
    std::array<std::uint8_t, 2> ttl{};  // first non-RST TTL per side; 0 = none yet
    bool roles_from_handshake = false;
    bool reset_in_handshake = false;  // the RST came while the SYN was unanswered
    bool middlebox_flagged = false;   // this connection's reset already counted as a middlebox's
    bool alias_same_orientation = false;  // kAlias: this key's side A is the target's side A
    // kAlias reuses these two as the target's FlowTable handle (position, hash).
    std::uint32_t client_isn = 0;
    std::uint32_t first_fin_seq = 0;  // sequence number the first FIN occupies
  };

 public:
  using Table = FlowTable<Flow>;
  // Memory per tracked flow: two 8-byte index slots, the LRU link, the entry (key + state).
  static constexpr std::size_t kBytesPerFlow =
      2 * sizeof(std::uint64_t) + 24 + sizeof(Table::Entry);
  static_assert(sizeof(Table::Entry) <= 64, "a flow's entry fits one cache line");
  // Closed and reset flows linger as long as Linux keeps TIME_WAIT (TCP_TIMEWAIT_LEN = 60 s), to
  // absorb retransmitted FINs and RSTs and to see what follows an injected RST, unless
  // flow_idle_timeout is shorter.
  static constexpr PacketTime kClosedLinger = std::chrono::seconds(60);
  static constexpr PacketTime kDuplicateWindow = DuplicateFilter::kWindow;

  explicit FlowTracker(const FlowTrackerOptions& options);

  // Applies new options in place (config reload): ports, timeouts and max_flows (see
  // FlowTable::set_max_flows); the flows and their state stay, so a connection opened before the
  // reload is still known after it. local_addresses and max_peers are not the tracker's here.
  void reconfigure(const FlowTrackerOptions& options);

  Observation observe(const TcpSegment& segment, PacketTime now);

  // The same, in three steps for a batch of segments, so memory latency overlaps (see
  // PacketPipeline): prepare() every segment (prefetches its index slot), prefetch() every
  // prepared one (prefetches its flow), then observe() each in capture order. prepare() also
  // prefetches the segment's duplicate-filter slot.
  struct Prepared {
    FlowKey key;
    FlowSide side = FlowSide::kA;
    std::uint32_t hash = 0;
    std::uint64_t fingerprint = 0;  // DuplicateFilter::fingerprint()
  };
  Prepared prepare(const TcpSegment& segment) const;
  void prepare(const TcpSegment& segment, Prepared& prepared) const;  // in place
  void prefetch(const Prepared& prepared) const { table_.prefetch_entry(prepared.hash); }
  Observation observe(const TcpSegment& segment, PacketTime now, const Prepared& prepared);

  // Expires idle flows by the clock (packet time for replay, wall time for live capture, so
  // flows age while no packet arrives).
  void expire(PacketTime now);

  std::size_t flows() const { return table_.size(); }
  std::uint64_t evicted() const { return table_.evicted(); }
  std::uint64_t expired() const { return table_.expired(); }
  std::uint64_t duplicates() const { return duplicates_; }

  void set_local_addresses(std::vector<IpAddress> addresses) {
    local_addresses_ = std::move(addresses);
  }

 private:
  // The one place a flow changes state: applies a segment of `kind` sent by `side`.
  void transition(Table::Entry& entry, SegmentKind kind, const TcpSegment& segment, FlowSide side,
                  Observation& out);

  void link_nat_views(const DuplicateFilter::Seen& first, const Prepared& copy, PacketTime now);
  void start_incarnation(Table::Entry& entry);
  void set_state(Table::Entry& entry, FlowState state);
  ClientSide guess_client(const FlowKey& key) const;
  ResetSender role_of(const Flow& flow, FlowSide side) const;
  PortLabel port_label(const FlowKey& key, const Flow& flow) const;
  IpAddress peer_of(const FlowKey& key, const Flow& flow, const TcpSegment& segment,
                    FlowSide sender) const;
  bool is_local(const IpAddress& address) const;

  void on_rst(Table::Entry& entry, const TcpSegment& segment, FlowSide side, Observation& out);
  void on_second_fin(Table::Entry& entry, const TcpSegment& segment, Observation& out);
  void flag_injected(Table::Entry& entry, const TcpSegment& segment, FlowSide side,
                     Observation& out);

  Table table_;
  std::size_t max_flows_;  // as configured (the table clamps it)
  Table::Timeouts timeouts_{};
  DuplicateFilter duplicates_filter_;
  std::bitset<65536> listed_ports_;
  std::vector<IpAddress> local_addresses_;
  std::uint64_t duplicates_ = 0;
};

}  // namespace connwatch::passive
