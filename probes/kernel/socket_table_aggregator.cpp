#include "probes/kernel/socket_table_aggregator.h"

#include <algorithm>
#include <vector>

namespace connwatch::kernel {
namespace {

template <typename Map, typename Key>
void bump(Map& map, const Key& key, std::size_t max_tracked, std::uint64_t& untracked) {
  const auto it = map.find(key);
  if (it != map.end()) {
    ++it->second;
  } else if (map.size() < max_tracked) {
    map.emplace(key, 1);
  } else {
    ++untracked;
  }
}

double ratio(std::uint64_t in_use, std::size_t usable) {
  if (usable == 0) return in_use > 0 ? 1.0 : 0.0;
  return std::min(1.0, static_cast<double>(in_use) / static_cast<double>(usable));
}

// Most first; ties by destination so the top-K is stable between collections.
template <typename T, typename Count>
void keep_top(std::vector<T>& items, std::size_t k, Count count) {
  const auto before = [&](const T& a, const T& b) {
    if (count(a) != count(b)) return count(a) > count(b);
    return a.destination < b.destination;
  };
  if (items.size() > k) {
    std::partial_sort(items.begin(), items.begin() + static_cast<std::ptrdiff_t>(k), items.end(),
                      before);
  } else {
    std::sort(items.begin(), items.end(), before);
  }
}

}  // namespace

void ListeningPorts::on_socket(const SocketRecord& socket) {
  if (socket.state == TcpState::kListen) ports_.set(socket.local.port);
}

SocketTableAggregator::SocketTableAggregator(const EphemeralPortRange& range,
                                             const PortSet& listening_ports,
                                             std::size_t max_tracked, SocketCounterHistory* history)
    : range_(range), listening_(listening_ports), max_tracked_(max_tracked), history_(history) {}

void SocketTableAggregator::on_socket(const SocketRecord& socket) {
  ++by_state_[index_of(socket.state)];
  ++sockets_;
  if (socket.state == TcpState::kListen) return;
  const bool accepted = listening_.test(socket.local.port) ||
                        (socket.local.port < range_.low && range_.is_ephemeral(socket.remote.port));
  const Endpoint& destination = accepted ? socket.local : socket.remote;
  if (socket.state == TcpState::kTimeWait) {
    bump(time_wait_, destination, max_tracked_, time_wait_untracked_);
  }
  if (!accepted && range_.is_ephemeral(socket.local.port)) {
    bump(ports_, PortKey{socket.local.address, socket.remote}, max_tracked_, ports_untracked_);
  }
  if (socket.has_info && history_ != nullptr) add_quality(socket, destination);
}

void SocketTableAggregator::add_quality(const SocketRecord& socket, const Endpoint& destination) {
  const auto delta = history_->observe(socket.cookie, socket.total_retrans, socket.segs_out);
  Quality* q = &quality_untracked_;
  if (const auto it = quality_.find(destination); it != quality_.end()) {
    q = &it->second;
  } else if (quality_.size() < max_tracked_) {
    q = &quality_[destination];
  }
  q->retransmitted += delta.retransmitted;
  q->sent += delta.sent;
  // tcpi_rtt is 0 until the first RTT sample; only established sockets say how the path is now.
  if (socket.state == TcpState::kEstablished && socket.rtt_us > 0) {
    ++q->rtt_sockets;
    q->rtt_sum_us += socket.rtt_us;
    q->rtt_max_us = std::max(q->rtt_max_us, socket.rtt_us);
  }
}

SocketTableSummary SocketTableAggregator::summarize(std::size_t max_destinations) const {
  SocketTableSummary out;
  out.by_state = by_state_;
  out.sockets = sockets_;
  out.interrupted = interrupted_;
  out.usable_ports = range_.usable();

  out.time_wait.reserve(time_wait_.size());
  for (const auto& [destination, n] : time_wait_) out.time_wait.push_back({destination, n});
  out.time_wait_destinations = out.time_wait.size();
  keep_top(out.time_wait, max_destinations, [](const DestinationTimeWait& d) { return d.sockets; });
  out.time_wait_other = time_wait_untracked_;
  for (std::size_t i = max_destinations; i < out.time_wait.size(); ++i) {
    out.time_wait_other += out.time_wait[i].sockets;
  }
  if (out.time_wait.size() > max_destinations) out.time_wait.resize(max_destinations);

  // One row per destination: its busiest source address.
  std::unordered_map<Endpoint, DestinationPortUsage> by_destination;
  by_destination.reserve(ports_.size());
  for (const auto& [key, n] : ports_) {
    auto& row = by_destination[key.destination];
    if (n > row.in_use) row = {key.destination, key.source, n, 0};
  }
  out.ports_in_use.reserve(by_destination.size());
  for (auto& [destination, row] : by_destination) {
    row.utilization = ratio(row.in_use, out.usable_ports);
    out.ports_in_use.push_back(row);
  }
  out.port_destinations = out.ports_in_use.size();
  keep_top(out.ports_in_use, max_destinations,
           [](const DestinationPortUsage& d) { return d.in_use; });
  out.ports_in_use_other = ports_untracked_;
  for (std::size_t i = max_destinations; i < out.ports_in_use.size(); ++i) {
    out.ports_in_use_other += out.ports_in_use[i].in_use;
    out.utilization_other = std::max(out.utilization_other, out.ports_in_use[i].utilization);
  }
  if (out.ports_in_use.size() > max_destinations) out.ports_in_use.resize(max_destinations);

  const auto quality_of = [](const Endpoint& destination, const Quality& q) {
    DestinationQuality d;
    d.destination = destination;
    d.retransmitted = q.retransmitted;
    d.sent = q.sent;
    d.rtt_sockets = q.rtt_sockets;
    if (q.rtt_sockets > 0) {
      d.rtt_mean_seconds =
          static_cast<double>(q.rtt_sum_us) / static_cast<double>(q.rtt_sockets) / 1e6;
      d.rtt_max_seconds = static_cast<double>(q.rtt_max_us) / 1e6;
    }
    return d;
  };
  out.has_quality = history_ != nullptr;
  out.quality.reserve(quality_.size());
  for (const auto& [destination, q] : quality_) out.quality.push_back(quality_of(destination, q));
  out.quality_destinations = out.quality.size();
  // The lossiest first, then the busiest: the destinations someone looking for loss wants named.
  const auto before = [](const DestinationQuality& a, const DestinationQuality& b) {
    if (a.retransmitted != b.retransmitted) return a.retransmitted > b.retransmitted;
    if (a.sent != b.sent) return a.sent > b.sent;
    if (a.rtt_sockets != b.rtt_sockets) return a.rtt_sockets > b.rtt_sockets;
    return a.destination < b.destination;
  };
  const std::size_t k = std::min(max_destinations, out.quality.size());
  std::partial_sort(out.quality.begin(), out.quality.begin() + static_cast<std::ptrdiff_t>(k),
                    out.quality.end(), before);
  Quality other = quality_untracked_;
  for (std::size_t i = k; i < out.quality.size(); ++i) {
    const auto& d = out.quality[i];
    const auto& q = quality_.at(d.destination);
    other.retransmitted += q.retransmitted;
    other.sent += q.sent;
    other.rtt_sockets += q.rtt_sockets;
    other.rtt_sum_us += q.rtt_sum_us;
    other.rtt_max_us = std::max(other.rtt_max_us, q.rtt_max_us);
  }
  out.quality.resize(k);
  out.quality_other = quality_of(Endpoint{}, other);
  return out;
}

}  // namespace connwatch::kernel
