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
                                             std::size_t max_tracked)
    : range_(range), listening_(listening_ports), max_tracked_(max_tracked) {}

void SocketTableAggregator::on_socket(const SocketRecord& socket) {
  ++by_state_[index_of(socket.state)];
  ++sockets_;
  if (socket.state == TcpState::kListen || listening_.test(socket.local.port)) return;
  if (socket.state == TcpState::kTimeWait) {
    bump(time_wait_, socket.remote, max_tracked_, time_wait_untracked_);
  }
  if (range_.is_ephemeral(socket.local.port)) {
    bump(ports_, PortKey{socket.local.address, socket.remote}, max_tracked_, ports_untracked_);
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
  return out;
}

}  // namespace connwatch::kernel
