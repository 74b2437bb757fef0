#include "probes/passive/flow_tracker.h"

#include <algorithm>
#include <cstdlib>
#include <tuple>

namespace connwatch::passive {
namespace {

std::size_t side_index(FlowSide side) { return static_cast<std::size_t>(side); }

}  // namespace

FlowTracker::FlowTracker(const FlowTrackerOptions& options)
    : table_(options.max_flows),
      idle_timeout_(std::chrono::duration_cast<PacketTime>(options.flow_idle_timeout)),
      closed_linger_(std::min(kClosedLinger, idle_timeout_)),
      local_addresses_(options.local_addresses) {
  for (const std::uint16_t port : options.ports) listed_ports_.set(port);
}

void FlowTracker::reconfigure(const FlowTrackerOptions& options) {
  table_.set_max_flows(options.max_flows);
  idle_timeout_ = std::chrono::duration_cast<PacketTime>(options.flow_idle_timeout);
  closed_linger_ = std::min(kClosedLinger, idle_timeout_);
  listed_ports_.reset();
  for (const std::uint16_t port : options.ports) listed_ports_.set(port);
}

void FlowTracker::expire(PacketTime now) { table_.expire(now, idle_timeout_, closed_linger_); }

FlowTracker::Prepared FlowTracker::prepare(const TcpSegment& segment) const {
  Prepared prepared;
  std::tie(prepared.key, prepared.side) = FlowKey::of(segment);
  prepared.hash = prepared.key.hash();
  table_.prefetch_slot(prepared.hash);
  return prepared;
}

Observation FlowTracker::observe(const TcpSegment& segment, PacketTime now) {
  return observe(segment, now, prepare(segment));
}

Observation FlowTracker::observe(const TcpSegment& segment, PacketTime now,
                                 const Prepared& prepared) {
  Observation out;
  expire(now);
  const FlowSide side = prepared.side;
  bool inserted = false;
  Table::Entry& entry = table_.find_or_insert(prepared.key, prepared.hash, now, inserted);
  if (inserted) entry.state.client = guess_client(entry.key);
  if (is_duplicate(entry.state, segment, side, now)) {
    ++duplicates_;
    out.duplicate = true;
    return out;
  }
  // RST wins over the other flags: a RST segment ends the connection whatever else it carries.
  if (segment.has(tcp_flags::kRst)) {
    on_rst(entry, segment, side, out);
  } else {
    if (entry.state.ttl[side_index(side)] == 0) entry.state.ttl[side_index(side)] = segment.ttl;
    if (segment.has(tcp_flags::kSyn)) {
      on_syn(entry, segment, side, out);
    } else if (segment.has(tcp_flags::kFin)) {
      on_fin(entry, segment, side, out);
    }
  }
  out.port = port_label(entry.key, entry.state);
  return out;
}

bool FlowTracker::is_duplicate(FlowState& flow, const TcpSegment& segment, FlowSide side,
                               PacketTime now) {
  std::uint64_t h =
      (static_cast<std::uint64_t>(segment.seq) << 32 | segment.ack) * 0x9E3779B97F4A7C15ULL;
  h ^= (static_cast<std::uint64_t>(segment.ip_id) << 16 | segment.flags << 1 |
        static_cast<std::uint64_t>(side_index(side))) *
       0xC2B2AE3D27D4EB4FULL;
  h ^= h >> 29;
  const auto fingerprint = std::max<std::uint32_t>(1, static_cast<std::uint32_t>(h ^ (h >> 32)));
  const auto time_low = static_cast<std::uint32_t>(now.count());
  const auto window = static_cast<std::int64_t>(kDuplicateWindow.count());
  for (const SeenSegment& seen : flow.recent) {
    if (seen.fingerprint == fingerprint &&
        std::abs(static_cast<std::int64_t>(static_cast<std::int32_t>(time_low - seen.time_low))) <=
            window) {
      return true;
    }
  }
  flow.recent[flow.recent_next] = {fingerprint, time_low};
  flow.recent_next = static_cast<std::uint8_t>((flow.recent_next + 1) % flow.recent.size());
  return false;
}

// A new connection on a 4-tuple seen before (port reuse, TIME_WAIT reuse): forget the old one
// but keep the de-duplication memory.
void FlowTracker::start_incarnation(Table::Entry& entry) {
  const auto recent = entry.state.recent;
  const auto recent_next = entry.state.recent_next;
  entry.state = FlowState{};
  entry.state.recent = recent;
  entry.state.recent_next = recent_next;
  entry.state.client = guess_client(entry.key);
  table_.reopen(entry);
}

// Without the handshake: a listed port, else a well-known port (< 1024), else the lower port is
// the server's; clients bind ephemeral ports (32768-60999 by default on Linux), which are high.
FlowTracker::ClientSide FlowTracker::guess_client(const FlowKey& key) const {
  const bool listed_a = listed_ports_.test(key.port_a);
  const bool listed_b = listed_ports_.test(key.port_b);
  if (listed_a != listed_b) return listed_a ? ClientSide::kB : ClientSide::kA;
  const bool well_known_a = key.port_a < 1024;
  const bool well_known_b = key.port_b < 1024;
  if (well_known_a != well_known_b) return well_known_a ? ClientSide::kB : ClientSide::kA;
  if (key.port_a != key.port_b) return key.port_a < key.port_b ? ClientSide::kB : ClientSide::kA;
  return ClientSide::kUnknown;
}

ResetSender FlowTracker::role_of(const FlowState& flow, FlowSide side) const {
  switch (flow.client) {
    case ClientSide::kUnknown:
      return ResetSender::kUnknown;
    case ClientSide::kA:
      return side == FlowSide::kA ? ResetSender::kClient : ResetSender::kServer;
    case ClientSide::kB:
      return side == FlowSide::kB ? ResetSender::kClient : ResetSender::kServer;
  }
  return ResetSender::kUnknown;
}

PortLabel FlowTracker::port_label(const FlowKey& key, const FlowState& flow) const {
  std::uint16_t server_port = key.port_a;  // equal ports when the roles are unknown
  if (flow.client == ClientSide::kA) server_port = key.port_b;
  if (listed_ports_.test(server_port) || server_port < 1024) return PortLabel::port(server_port);
  return PortLabel::other();
}

bool FlowTracker::is_local(const IpAddress& address) const {
  return std::find(local_addresses_.begin(), local_addresses_.end(), address) !=
         local_addresses_.end();
}

IpAddress FlowTracker::peer_of(const FlowKey& key, const FlowState& flow, const TcpSegment& segment,
                               FlowSide sender) const {
  switch (segment.direction) {
    case Direction::kIncoming:
      return segment.src;
    case Direction::kOutgoing:
      return segment.dst;
    case Direction::kUnknown:
      break;
  }
  const bool src_local = is_local(segment.src);
  const bool dst_local = is_local(segment.dst);
  if (src_local != dst_local) return src_local ? segment.dst : segment.src;
  // No way to tell which end is this host: name the server, the usual thing to blame.
  switch (flow.client) {
    case ClientSide::kA:
      return key.address_b;
    case ClientSide::kB:
      return key.address_a;
    case ClientSide::kUnknown:
      break;
  }
  return key.address(sender);
}

void FlowTracker::on_syn(Table::Entry& entry, const TcpSegment& segment, FlowSide side,
                         Observation& out) {
  FlowState& flow = entry.state;
  const ClientSide sender = side == FlowSide::kA ? ClientSide::kA : ClientSide::kB;
  if (!segment.has(tcp_flags::kAck)) {
    if (flow.syn_seen && !flow.closed && flow.client == sender && flow.client_isn == segment.seq) {
      return;  // SYN retransmission
    }
    if (flow.syn_seen || flow.syn_ack_seen || flow.fin_seen[0] || flow.fin_seen[1] ||
        flow.reset_seen) {
      start_incarnation(entry);
    }
    flow.syn_seen = true;
    flow.client = sender;
    flow.roles_from_handshake = true;
    flow.client_isn = segment.seq;
    flow.ttl[side_index(side)] = segment.ttl;
    return;
  }
  // SYN-ACK: its sender is the server.
  if (flow.syn_ack_seen && !flow.closed) return;  // retransmission
  if (flow.closed || flow.reset_seen || flow.fin_seen[0] || flow.fin_seen[1]) {
    start_incarnation(entry);  // the new connection's SYN was not captured
    flow.ttl[side_index(side)] = segment.ttl;
  }
  flow.syn_ack_seen = true;
  flow.client = sender == ClientSide::kA ? ClientSide::kB : ClientSide::kA;
  flow.roles_from_handshake = true;
  out.connection_opened = true;
}

void FlowTracker::on_rst(Table::Entry& entry, const TcpSegment& segment, FlowSide side,
                         Observation& out) {
  FlowState& flow = entry.state;
  // One reset per connection: a peer answers every in-flight segment with a RST, and those are
  // one event for the user, not several.
  if (flow.reset_seen) return;
  const bool any_fin = flow.fin_seen[0] || flow.fin_seen[1];
  ResetPhase phase = ResetPhase::kEstablished;
  if (any_fin) {
    phase = ResetPhase::kClosing;
  } else if (flow.syn_seen && !flow.syn_ack_seen) {
    phase = ResetPhase::kHandshake;  // answers the SYN: refused, or the client gave up
  } else if (!flow.syn_seen && !flow.syn_ack_seen && segment.has(tcp_flags::kAck) &&
             segment.seq == 0) {
    // A RST|ACK with seq 0 answers a segment without ACK, i.e. a SYN (RFC 9293 §3.10.7.1), even
    // when the SYN itself was not captured: refused, and the RST's sender is the server.
    phase = ResetPhase::kHandshake;
    if (!flow.roles_from_handshake) {
      flow.client = side == FlowSide::kA ? ClientSide::kB : ClientSide::kA;
    }
  }
  const std::uint8_t baseline = flow.ttl[side_index(side)];
  ResetEvent reset;
  reset.sender = role_of(flow, side);
  reset.phase = phase;
  reset.suspected_middlebox = baseline != 0 && segment.ttl != baseline;
  reset.ttl = segment.ttl;
  reset.flow_ttl = baseline;
  reset.peer = peer_of(entry.key, flow, segment, side);
  out.reset = reset;
  flow.reset_seen = true;
  if (!flow.closed) {
    flow.closed = true;
    out.close = CloseHow::kReset;
    table_.close(entry);
  }
}

void FlowTracker::on_fin(Table::Entry& entry, const TcpSegment& segment, FlowSide side,
                         Observation& out) {
  FlowState& flow = entry.state;
  if (flow.reset_seen) return;  // closed by RST: no TIME_WAIT (TCP-NOTES §1, exceptions)
  const std::size_t index = side_index(side);
  if (!flow.fin_seen[0] && !flow.fin_seen[1]) {
    flow.fin_seen[index] = true;
    flow.first_fin_side = static_cast<std::uint8_t>(index);
    // The FIN occupies the sequence number after the segment's data (RFC 9293 §3.4).
    flow.first_fin_seq = segment.seq + segment.payload_length;
    return;
  }
  if (flow.fin_seen[index]) return;  // retransmission of this side's FIN
  flow.fin_seen[index] = true;
  // The second FIN acknowledges the first one: the first FIN's sender is the active closer and
  // enters TIME_WAIT. Otherwise the FINs crossed and both ends pass through CLOSING into
  // TIME_WAIT (RFC 9293 §3.6).
  const auto first = static_cast<FlowSide>(flow.first_fin_side);
  if (segment.has(tcp_flags::kAck) && segment.ack == flow.first_fin_seq + 1) {
    switch (role_of(flow, first)) {
      case ResetSender::kClient:
        out.time_wait[index_of(TimeWaitSide::kClient)] = true;
        break;
      case ResetSender::kServer:
        out.time_wait[index_of(TimeWaitSide::kServer)] = true;
        break;
      case ResetSender::kUnknown:
        break;  // equal ports and no handshake: no role to count it under
    }
  } else {
    out.time_wait[index_of(TimeWaitSide::kClient)] = true;
    out.time_wait[index_of(TimeWaitSide::kServer)] = true;
  }
  flow.closed = true;
  out.close = CloseHow::kFin;
  table_.close(entry);
}

}  // namespace connwatch::passive
