#include "probes/passive/flow_tracker.h"

#include <algorithm>
#include <tuple>

namespace connwatch::passive {
namespace {

std::size_t side_index(FlowSide side) { return static_cast<std::size_t>(side); }

constexpr std::uint8_t kControlFlags = tcp_flags::kSyn | tcp_flags::kFin | tcp_flags::kRst;

SegmentKind kind_of(const TcpSegment& segment) {
  if (segment.has(tcp_flags::kRst)) return SegmentKind::kRst;  // a RST ends it, whatever else
  if (segment.has(tcp_flags::kSyn)) {
    return segment.has(tcp_flags::kAck) ? SegmentKind::kSynAck : SegmentKind::kSyn;
  }
  return SegmentKind::kFin;
}

FlowList list_for(FlowState state) {
  switch (state) {
    case FlowState::kNew:
    case FlowState::kSynSent:
      return FlowList::kOpening;
    case FlowState::kEstablished:
    case FlowState::kHalfClosed:
    case FlowState::kAlias:
      return FlowList::kLongLived;
    case FlowState::kClosed:
    case FlowState::kReset:
      return FlowList::kClosed;
  }
  return FlowList::kOpening;
}

// NAT rewrites one end of a connection (SNAT/MASQUERADE the source, DNAT the destination), so two
// views of one connection always share the other end.
bool share_an_end(const FlowKey& x, const FlowKey& y) {
  for (const FlowSide i : {FlowSide::kA, FlowSide::kB}) {
    for (const FlowSide j : {FlowSide::kA, FlowSide::kB}) {
      if (x.address(i) == y.address(j) && x.port(i) == y.port(j)) return true;
    }
  }
  return false;
}

}  // namespace

FlowTracker::FlowTracker(const FlowTrackerOptions& options)
    : table_(options.max_flows),
      max_flows_(options.max_flows),
      local_addresses_(options.local_addresses) {
  reconfigure(options);
}

void FlowTracker::reconfigure(const FlowTrackerOptions& options) {
  // The flows and their state stay (FlowTable::set_max_flows), so a connection opened before a
  // reload is still known after it.
  if (options.max_flows != max_flows_) {
    table_.set_max_flows(options.max_flows);
    max_flows_ = options.max_flows;
  }
  const auto idle = std::chrono::duration_cast<PacketTime>(options.flow_idle_timeout);
  timeouts_[static_cast<std::size_t>(FlowList::kOpening)] = idle;
  timeouts_[static_cast<std::size_t>(FlowList::kLongLived)] =
      std::max(idle, std::chrono::duration_cast<PacketTime>(options.established_timeout));
  timeouts_[static_cast<std::size_t>(FlowList::kClosed)] = std::min(kClosedLinger, idle);
  table_.set_timeouts(timeouts_);
  listed_ports_.reset();
  for (const std::uint16_t port : options.ports) listed_ports_.set(port);
}

void FlowTracker::expire(PacketTime now) { table_.expire(now); }

FlowTracker::Prepared FlowTracker::prepare(const TcpSegment& segment) const {
  Prepared prepared;
  prepare(segment, prepared);
  return prepared;
}

void FlowTracker::prepare(const TcpSegment& segment, Prepared& prepared) const {
  prepared.side = FlowKey::assign(segment, prepared.key);
  prepared.hash =
      prepared.side == FlowSide::kA
          ? FlowKey::hash_of(segment.src, segment.dst, segment.src_port, segment.dst_port)
          : FlowKey::hash_of(segment.dst, segment.src, segment.dst_port, segment.src_port);
  prepared.fingerprint = DuplicateFilter::fingerprint(segment);
  table_.prefetch_slot(prepared.hash);
  duplicates_filter_.prefetch(prepared.fingerprint);
}

Observation FlowTracker::observe(const TcpSegment& segment, PacketTime now) {
  return observe(segment, now, prepare(segment));
}

Observation FlowTracker::observe(const TcpSegment& segment, PacketTime now,
                                 const Prepared& prepared) {
  Observation out;
  expire(now);
  const std::uint64_t fingerprint = prepared.fingerprint;
  const DuplicateFilter::Seen* first = duplicates_filter_.find(fingerprint, now, segment.ttl);
  if (first != nullptr && first->view_hash != prepared.hash) {
    // Another 4-tuple with the same segment: the connection seen through NAT, unless the two
    // share no end (then two connections happen to repeat each other's numbers).
    const Table::Entry* target = table_.at(first->flow_position, first->flow_hash);
    if (target != nullptr && !share_an_end(target->key, prepared.key)) first = nullptr;
  }
  if (first != nullptr) {
    ++duplicates_;
    out.duplicate = true;
    if (first->view_hash != prepared.hash) link_nat_views(*first, prepared, now);
    return out;
  }

  bool inserted = false;
  // The flow's FlowTable handle: this key's entry, or the one its NAT alias stands for.
  std::uint32_t position;
  std::uint32_t flow_hash = prepared.hash;
  Table::Entry* entry =
      &table_.find_or_insert(prepared.key, prepared.hash, now, inserted, position);
  FlowSide side = prepared.side;
  if (entry->state.state == FlowState::kAlias) {
    Table::Entry* target = table_.at(entry->state.client_isn, entry->state.first_fin_seq);
    if (target == nullptr || target->state.state == FlowState::kAlias) {
      start_incarnation(*entry);  // the flow it stood for is gone: this view stands alone
    } else {
      if (!entry->state.alias_same_orientation) side = opposite(side);
      position = entry->state.client_isn;
      flow_hash = entry->state.first_fin_seq;
      table_.touch(*target, now);
      entry = target;
    }
  }
  if (inserted) entry->state.client = guess_client(entry->key);
  duplicates_filter_.remember(fingerprint, now,
                              {.view_hash = prepared.hash,
                               .flow_position = position,
                               .flow_hash = flow_hash,
                               .flow_side = static_cast<std::uint8_t>(side),
                               .ttl = segment.ttl});

  if ((segment.flags & kControlFlags) == 0) {
    // Not a control segment (the capture filter never passes one): only the TTL baseline.
    std::uint8_t& ttl = entry->state.ttl[side_index(side)];
    if (ttl == 0) ttl = segment.ttl;
  } else {
    transition(*entry, kind_of(segment), segment, side, out);
  }
  out.port = port_label(entry->key, entry->state);
  return out;
}

// `first` went to a tracked flow; `copy` is the same segment under another 4-tuple. The copy's
// 4-tuple becomes an alias of that flow, and the end both 4-tuples share is the remote one: NAT
// rewrote the local end (SNAT/MASQUERADE the inside source, DNAT the inside destination).
void FlowTracker::link_nat_views(const DuplicateFilter::Seen& first, const Prepared& copy,
                                 PacketTime now) {
  bool inserted = false;
  Table::Entry& view = table_.find_or_insert(copy.key, copy.hash, now, inserted);
  // A 4-tuple with a connection of its own keeps it (the first copy's flow may be gone).
  if (!inserted && view.state.state != FlowState::kNew && view.state.state != FlowState::kAlias) {
    return;
  }
  // Looked up after the insert: inserting may move or evict entries.
  Table::Entry* target = table_.at(first.flow_position, first.flow_hash);
  if (target == nullptr || target == &view || target->state.state == FlowState::kAlias) return;

  const auto first_side = static_cast<FlowSide>(first.flow_side);
  const FlowKey& key = target->key;
  view.state = Flow{};
  view.state.alias_same_orientation = copy.side == first_side;
  view.state.client_isn = first.flow_position;
  view.state.first_fin_seq = first.flow_hash;
  set_state(view, FlowState::kAlias);

  const auto shared = [&](FlowSide in_target, FlowSide in_copy) {
    return key.address(in_target) == copy.key.address(in_copy) &&
           key.port(in_target) == copy.key.port(in_copy);
  };
  const auto remote = [](FlowSide side) {
    return side == FlowSide::kA ? RemoteSide::kA : RemoteSide::kB;
  };
  if (shared(first_side, copy.side)) {
    target->state.remote = remote(first_side);
  } else if (shared(opposite(first_side), opposite(copy.side))) {
    target->state.remote = remote(opposite(first_side));
  }
}

void FlowTracker::set_state(Table::Entry& entry, FlowState state) {
  entry.state.state = state;
  table_.move_to(entry, list_for(state));
}

// A new connection on a 4-tuple seen before (port reuse, TIME_WAIT reuse): forget the old one,
// but not which end is remote (a property of the 4-tuple, learnt from its NAT views).
void FlowTracker::start_incarnation(Table::Entry& entry) {
  const RemoteSide remote =
      entry.state.state == FlowState::kAlias ? RemoteSide::kUnknown : entry.state.remote;
  entry.state = Flow{};
  entry.state.remote = remote;
  entry.state.client = guess_client(entry.key);
  set_state(entry, FlowState::kNew);
}

void FlowTracker::transition(Table::Entry& entry, SegmentKind kind, const TcpSegment& segment,
                             FlowSide side, Observation& out) {
  Flow& flow = entry.state;
  const std::size_t index = side_index(side);
  const ClientSide sender = side == FlowSide::kA ? ClientSide::kA : ClientSide::kB;
  const ClientSide receiver = side == FlowSide::kA ? ClientSide::kB : ClientSide::kA;
  const auto baseline = [&] {
    if (flow.ttl[index] == 0) flow.ttl[index] = segment.ttl;
  };

  switch (kind) {
    case SegmentKind::kSyn: {
      const bool retransmission =
          (flow.state == FlowState::kSynSent || flow.state == FlowState::kEstablished) &&
          flow.client == sender && flow.client_isn == segment.seq;
      if (retransmission) return;
      if (flow.state != FlowState::kNew) start_incarnation(entry);  // also RST-then-retry
      flow.client = sender;
      flow.roles_from_handshake = true;
      flow.client_isn = segment.seq;
      flow.ttl[index] = segment.ttl;
      set_state(entry, FlowState::kSynSent);
      return;
    }

    case SegmentKind::kSynAck: {
      switch (flow.state) {
        case FlowState::kEstablished:
        case FlowState::kHalfClosed:
          baseline();
          return;  // retransmission
        case FlowState::kReset:
          // The real answer to the SYN the RST claimed to answer, from the side the RST claimed
          // to come from: the RST was forged on the path (TCP-NOTES §2, §7).
          if (flow.reset_in_handshake && flow.roles_from_handshake && flow.reset_side == index &&
              flow.client == receiver && segment.ack == flow.client_isn + 1) {
            flag_injected(entry, segment, side, out);
            return;
          }
          start_incarnation(entry);  // the new connection's SYN was not captured
          break;
        case FlowState::kClosed:
          start_incarnation(entry);
          break;
        case FlowState::kNew:
        case FlowState::kSynSent:
        case FlowState::kAlias:
          break;
      }
      flow.client = receiver;  // a SYN-ACK's sender is the server
      flow.roles_from_handshake = true;
      baseline();
      set_state(entry, FlowState::kEstablished);
      out.connection_opened = true;
      return;
    }

    case SegmentKind::kFin:
      switch (flow.state) {
        case FlowState::kNew:
        case FlowState::kSynSent:
        case FlowState::kEstablished:
        case FlowState::kAlias:
          baseline();
          flow.first_fin_side = static_cast<std::uint8_t>(index);
          // The FIN occupies the sequence number after the segment's data (RFC 9293 §3.4).
          flow.first_fin_seq = segment.seq + segment.payload_length;
          set_state(entry, FlowState::kHalfClosed);
          return;
        case FlowState::kHalfClosed:
          baseline();
          if (flow.first_fin_side == index) return;  // retransmission of this side's FIN
          on_second_fin(entry, segment, out);
          return;
        case FlowState::kClosed:
          return;  // retransmission
        case FlowState::kReset:
          // Data and a FIN from the side whose RST ended the connection: that RST was forged.
          if (flow.reset_side == index && segment.payload_length > 0) {
            flag_injected(entry, segment, side, out);
          }
          return;  // closed by RST: no TIME_WAIT (TCP-NOTES §1, exceptions)
      }
      return;

    case SegmentKind::kRst:
      if (flow.state == FlowState::kReset) {
        // One reset per connection: a peer answers every in-flight segment with a RST, and those
        // are one event. The same side resetting again with another TTL: one of them is forged.
        if (flow.reset_side == index && segment.ttl != flow.reset_ttl) {
          flag_injected(entry, segment, side, out);
        }
        return;
      }
      on_rst(entry, segment, side, out);
      return;
  }
}

void FlowTracker::on_rst(Table::Entry& entry, const TcpSegment& segment, FlowSide side,
                         Observation& out) {
  Flow& flow = entry.state;
  ResetPhase phase = ResetPhase::kEstablished;
  switch (flow.state) {
    case FlowState::kHalfClosed:
    case FlowState::kClosed:
      phase = ResetPhase::kClosing;
      break;
    case FlowState::kSynSent:
      phase = ResetPhase::kHandshake;  // answers the SYN: refused, or the client gave up
      break;
    case FlowState::kNew:
    case FlowState::kAlias:
      // A RST|ACK with seq 0 answers a segment without ACK, i.e. a SYN (RFC 9293 §3.10.7.1),
      // even when the SYN itself was not captured: refused, and the RST's sender is the server.
      if (segment.has(tcp_flags::kAck) && segment.seq == 0) {
        phase = ResetPhase::kHandshake;
        flow.client = side == FlowSide::kA ? ClientSide::kB : ClientSide::kA;
      }
      break;
    case FlowState::kEstablished:
    case FlowState::kReset:
      break;
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
  if (flow.state != FlowState::kClosed) out.close = CloseHow::kReset;
  flow.reset_side = static_cast<std::uint8_t>(side_index(side));
  flow.reset_ttl = segment.ttl;
  flow.reset_in_handshake = phase == ResetPhase::kHandshake;
  flow.middlebox_flagged = reset.suspected_middlebox;
  set_state(entry, FlowState::kReset);
}

void FlowTracker::on_second_fin(Table::Entry& entry, const TcpSegment& segment, Observation& out) {
  Flow& flow = entry.state;
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
  out.close = CloseHow::kFin;
  set_state(entry, FlowState::kClosed);
}

// The reset was already counted when it came; now it also counts as a middlebox's, once.
void FlowTracker::flag_injected(Table::Entry& entry, const TcpSegment& segment, FlowSide side,
                                Observation& out) {
  Flow& flow = entry.state;
  if (flow.middlebox_flagged) return;
  flow.middlebox_flagged = true;
  const auto reset_side = static_cast<FlowSide>(flow.reset_side);
  ResetEvent event;
  event.sender = role_of(flow, reset_side);
  event.phase = flow.reset_in_handshake ? ResetPhase::kHandshake : ResetPhase::kEstablished;
  event.suspected_middlebox = true;
  event.ttl = flow.reset_ttl;
  // What the genuine sender's segment carries (0 when it is the RST we cannot tell apart).
  event.flow_ttl =
      flow.ttl[side_index(reset_side)] != 0 ? flow.ttl[side_index(reset_side)] : segment.ttl;
  event.peer = peer_of(entry.key, flow, segment, side);
  out.injected_reset = event;
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

ResetSender FlowTracker::role_of(const Flow& flow, FlowSide side) const {
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

PortLabel FlowTracker::port_label(const FlowKey& key, const Flow& flow) const {
  std::uint16_t server_port = key.port_a;  // equal ports when the roles are unknown
  if (flow.client == ClientSide::kA) server_port = key.port_b;
  if (listed_ports_.test(server_port) || server_port < 1024) return PortLabel::port(server_port);
  return PortLabel::other();
}

bool FlowTracker::is_local(const IpAddress& address) const {
  return std::find(local_addresses_.begin(), local_addresses_.end(), address) !=
         local_addresses_.end();
}

IpAddress FlowTracker::peer_of(const FlowKey& key, const Flow& flow, const TcpSegment& segment,
                               FlowSide sender) const {
  switch (flow.remote) {  // learnt from two NAT views of the connection: the end they share
    case RemoteSide::kA:
      return key.address_a;
    case RemoteSide::kB:
      return key.address_b;
    case RemoteSide::kUnknown:
      break;
  }
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

}  // namespace connwatch::passive
