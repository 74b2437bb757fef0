#include "probes/passive/passive_metrics.h"

#include <string>

namespace connwatch::passive {
namespace {

prometheus::Family<prometheus::Counter>& counter(prometheus::Registry& registry,
                                                 const std::string& name, const std::string& help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(registry);
}

prometheus::Family<prometheus::Gauge>& gauge(prometheus::Registry& registry,
                                             const std::string& name, const std::string& help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(registry);
}

std::string label(std::string_view value) { return std::string(value); }

}  // namespace

PassiveMetrics::PassiveMetrics(prometheus::Registry& registry, const FlowTrackerOptions& options)
    : connections_family_(counter(registry, "connwatch_tcp_connections_total",
                                  "TCP handshakes (SYN-ACKs) seen by the capture, by server port")),
      resets_family_(counter(registry, "connwatch_tcp_resets_total",
                             "TCP connections ended by a RST, by the RST's sender (client = SYN "
                             "sender), connection phase and server port")),
      peer_resets_family_(counter(registry, "connwatch_tcp_peer_resets_total",
                                  "TCP resets by remote peer address (top-K by resets, the rest "
                                  "as other) and RST sender")),
      middlebox_family_(counter(registry, "connwatch_tcp_resets_suspected_middlebox_total",
                                "TCP RSTs whose IP TTL/hop limit differs from the sender's other "
                                "packets in the flow")),
      time_wait_family_(counter(registry, "connwatch_tcp_time_wait_entries_total",
                                "TCP connections entering TIME_WAIT, by the role of the active "
                                "closer and server port")),
      closes_family_(counter(registry, "connwatch_tcp_closes_total",
                             "TCP connections closed, by FIN exchange or RST, by server port")),
      up_family_(gauge(registry, "connwatch_capture_up",
                       "1 when packet capture is running, 0 while it cannot be opened")),
      packets_family_(counter(registry, "connwatch_capture_packets_total",
                              "Packets that passed the SYN/FIN/RST capture filter")),
      dropped_family_(counter(registry, "connwatch_capture_dropped_packets_total",
                              "Packets dropped before connwatch saw them: kernel = capture ring "
                              "full (ps_drop), interface = NIC drops (ps_ifdrop)")),
      flows_family_(gauge(registry, "connwatch_capture_flows", "TCP flows in the flow table")),
      evicted_family_(counter(registry, "connwatch_capture_flows_evicted_total",
                              "Flows dropped from the flow table because it was full "
                              "(capture.max_flows)")),
      malformed_family_(counter(registry, "connwatch_capture_malformed_packets_total",
                                "Captured packets that could not be dissected: truncated = cut "
                                "by snaplen before the TCP flags, malformed = impossible lengths")),
      capture_up_(up_family_.Add({})),
      packets_(packets_family_.Add({})),
      dropped_kernel_(dropped_family_.Add({{"where", "kernel"}})),
      dropped_interface_(dropped_family_.Add({{"where", "interface"}})),
      flows_(flows_family_.Add({})),
      flows_evicted_(evicted_family_.Add({})),
      truncated_(malformed_family_.Add({{"reason", label(to_string(DissectOutcome::kTruncated))}})),
      malformed_(malformed_family_.Add({{"reason", label(to_string(DissectOutcome::kMalformed))}})),
      peer_slots_(options.max_peers) {
  // Series that exist from the start, so rate() and alerts see zeros instead of nothing.
  port(PortLabel::other());
  for (const std::uint16_t listed : options.ports) port(PortLabel::port(listed));
  for (const ResetSender sender : kResetSenders) {
    peer_other_[index_of(sender)] =
        &peer_resets_family_.Add({{"peer", "other"}, {"sender", label(to_string(sender))}});
  }
}

prometheus::Counter& PassiveMetrics::malformed(DissectOutcome reason) {
  return reason == DissectOutcome::kTruncated ? truncated_ : malformed_;
}

const PassiveMetrics::PortSeries& PassiveMetrics::port(PortLabel port_label) {
  const std::lock_guard lock(ports_mutex_);
  const auto found = ports_.find(port_label.key());
  if (found != ports_.end()) return found->second;
  const std::string value = port_label.to_string();
  PortSeries series;
  series.connections = &connections_family_.Add({{"port", value}});
  for (const ResetSender sender : kResetSenders) {
    for (const ResetPhase phase : kResetPhases) {
      series.resets[index_of(sender)][index_of(phase)] =
          &resets_family_.Add({{"sender", label(to_string(sender))},
                               {"phase", label(to_string(phase))},
                               {"port", value}});
    }
  }
  series.resets_suspected_middlebox = &middlebox_family_.Add({{"port", value}});
  for (const TimeWaitSide side : kTimeWaitSides) {
    series.time_wait_entries[index_of(side)] =
        &time_wait_family_.Add({{"side", label(to_string(side))}, {"port", value}});
  }
  for (const CloseHow how : kCloseHows) {
    series.closes[index_of(how)] =
        &closes_family_.Add({{"how", label(to_string(how))}, {"port", value}});
  }
  return ports_.emplace(port_label.key(), series).first->second;
}

void PassiveMetrics::assign_peer(std::size_t slot, const IpAddress& peer) {
  if (slot >= peer_slots_.size()) return;
  if (peer_slots_[slot]) {
    for (prometheus::Counter* series : *peer_slots_[slot]) peer_resets_family_.Remove(series);
  }
  PeerSeries series{};
  const std::string address = peer.to_string();
  for (const ResetSender sender : kResetSenders) {
    series[index_of(sender)] =
        &peer_resets_family_.Add({{"peer", address}, {"sender", label(to_string(sender))}});
  }
  peer_slots_[slot] = series;
}

void PassiveMetrics::set_max_peers(std::size_t max_peers) {
  for (std::size_t slot = max_peers; slot < peer_slots_.size(); ++slot) {
    if (!peer_slots_[slot]) continue;
    for (prometheus::Counter* series : *peer_slots_[slot]) peer_resets_family_.Remove(series);
  }
  peer_slots_.resize(max_peers);
}

prometheus::Counter& PassiveMetrics::peer_resets(std::optional<std::size_t> slot,
                                                 ResetSender sender) {
  if (slot && *slot < peer_slots_.size() && peer_slots_[*slot]) {
    return *(*peer_slots_[*slot])[index_of(sender)];
  }
  return *peer_other_[index_of(sender)];
}

}  // namespace connwatch::passive
