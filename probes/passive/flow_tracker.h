// FlowTracker: turns captured SYN/FIN/RST segments into connection events (handshakes, resets
// with sender and phase, TIME_WAIT entries, closes), one 4-tuple at a time.
//
// It sees only what the capture filter passes: SYN, FIN and RST segments, never pure ACKs or
// data. The rules (SPEC §2, §4; TCP-NOTES §1, §2) are in probes/passive/PASSIVE.md.
#pragma once

#include <array>
#include <bitset>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "probes/passive/flow_key.h"
#include "probes/passive/flow_labels.h"
#include "probes/passive/flow_table.h"
#include "probes/passive/ip_address.h"
#include "probes/passive/tcp_segment.h"

namespace connwatch::passive {

struct FlowTrackerOptions {
  std::size_t max_flows = 262144;
  std::chrono::seconds flow_idle_timeout{300};
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
  std::array<bool, kTimeWaitSides.size()> time_wait{};  // indexed by TimeWaitSide
  std::optional<CloseHow> close;
  PortLabel port = PortLabel::other();
};

class FlowTracker {
 public:
  // Two copies of one segment closer than this are one segment seen on two interfaces ("any"
  // sees a packet once per veth/bridge/NIC it crosses); real retransmissions wait >= 200 ms
  // (TCP_RTO_MIN).
  static constexpr PacketTime kDuplicateWindow = std::chrono::milliseconds(10);
  // Closed flows linger as long as Linux keeps TIME_WAIT (TCP_TIMEWAIT_LEN = 60 s), to absorb
  // retransmitted FINs and RSTs, unless flow_idle_timeout is shorter.
  static constexpr PacketTime kClosedLinger = std::chrono::seconds(60);

  explicit FlowTracker(const FlowTrackerOptions& options);

  Observation observe(const TcpSegment& segment, PacketTime now);

  // The same, in three steps for a batch of segments, so memory latency overlaps (see
  // PacketPipeline): prepare() every segment (prefetches its index slot), prefetch() every
  // prepared one (prefetches its flow), then observe() each in capture order.
  struct Prepared {
    FlowKey key;
    FlowSide side = FlowSide::kA;
    std::uint32_t hash = 0;
  };
  Prepared prepare(const TcpSegment& segment) const;
  void prefetch(const Prepared& prepared) const { table_.prefetch_entry(prepared.hash); }
  Observation observe(const TcpSegment& segment, PacketTime now, const Prepared& prepared);

  // Expires idle flows by the clock (packet time for replay, wall time for live capture, so
  // flows age while no packet arrives).
  void expire(PacketTime now);

  std::size_t flows() const { return table_.size(); }
  std::uint64_t evicted() const { return table_.evicted(); }
  std::uint64_t expired() const { return table_.expired(); }
  std::uint64_t duplicates() const { return duplicates_; }

  // Applies reloaded options in place: ports, flow_idle_timeout and max_flows (see
  // FlowTable::set_max_flows); the flows and their state stay, so a connection opened before the
  // reload is still known after it. local_addresses and max_peers are not the tracker's here.
  void reconfigure(const FlowTrackerOptions& options);

  void set_local_addresses(std::vector<IpAddress> addresses) {
    local_addresses_ = std::move(addresses);
  }

 private:
  // A recently seen segment: a 32-bit fingerprint of (side, seq, ack, flags, IP-ID) keeps the
  // flow entry small; two different segments of one flow collide once in 2^32.
  struct SeenSegment {
    std::uint32_t fingerprint = 0;  // 0 = empty
    std::uint32_t time_low = 0;     // low 32 bits of microseconds: differences up to 71 min
  };

  // Roles: which side sent the SYN. Known from the handshake, else guessed from ports.
  enum class ClientSide : std::uint8_t { kUnknown, kA, kB };

  struct FlowState {
    std::array<SeenSegment, 2> recent{};  // for de-duplication
    std::uint32_t client_isn = 0;
    std::uint32_t first_fin_seq = 0;    // sequence number the first FIN occupies
    std::array<std::uint8_t, 2> ttl{};  // first non-RST TTL per side; 0 = none yet
    ClientSide client = ClientSide::kUnknown;
    std::uint8_t first_fin_side = 0;
    bool roles_from_handshake = false;
    bool syn_seen = false;
    bool syn_ack_seen = false;
    std::array<bool, 2> fin_seen{};
    bool reset_seen = false;
    bool closed = false;
    std::uint8_t recent_next = 0;
  };

  using Table = FlowTable<FlowState>;

  bool is_duplicate(FlowState& flow, const TcpSegment& segment, FlowSide side, PacketTime now);
  void start_incarnation(Table::Entry& entry);
  ClientSide guess_client(const FlowKey& key) const;
  ResetSender role_of(const FlowState& flow, FlowSide side) const;
  PortLabel port_label(const FlowKey& key, const FlowState& flow) const;
  IpAddress peer_of(const FlowKey& key, const FlowState& flow, const TcpSegment& segment,
                    FlowSide sender) const;
  bool is_local(const IpAddress& address) const;

  void on_syn(Table::Entry& entry, const TcpSegment& segment, FlowSide side, Observation& out);
  void on_rst(Table::Entry& entry, const TcpSegment& segment, FlowSide side, Observation& out);
  void on_fin(Table::Entry& entry, const TcpSegment& segment, FlowSide side, Observation& out);

  Table table_;
  PacketTime idle_timeout_;
  PacketTime closed_linger_;
  std::bitset<65536> listed_ports_;
  std::vector<IpAddress> local_addresses_;
  std::uint64_t duplicates_ = 0;
};

}  // namespace connwatch::passive
