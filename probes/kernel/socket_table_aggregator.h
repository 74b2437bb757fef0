// Folds a streaming sock_diag dump into a SocketTableSummary without keeping the sockets: memory
// grows with the number of distinct destinations (capped), not with the number of sockets.
//
// A socket's destination is the endpoint its connection was opened to: the remote end of an
// outgoing socket, the local end of an accepted one (its local port is listening, or it is below
// the ephemeral range while the remote port is inside it, as after the listener closed). So a
// client's ephemeral port never becomes a label value (SPEC §4), and every TIME_WAIT socket,
// the server side's included, counts under some destination: per namespace the destinations sum
// to connwatch_sockets{state="time_wait"} (issue 16.5). Ports in use count only outgoing sockets
// whose local port is ephemeral (in ip_local_port_range and not reserved), as SPEC §2 defines.
//
// With a SocketCounterHistory, sockets carrying tcp_info add their retransmitted and sent segments
// since the previous collection to their destination, and established ones their smoothed RTT.
#pragma once

#include <bitset>
#include <cstddef>
#include <cstdint>
#include <unordered_map>

#include "net/endpoint.h"
#include "net/ip_address.h"
#include "probes/kernel/ephemeral_port_range.h"
#include "probes/kernel/socket_counter_history.h"
#include "probes/kernel/socket_record.h"
#include "probes/kernel/socket_table_summary.h"

namespace connwatch::kernel {

// The shared address types (net/), by the names this module used before they were shared.
using net::Endpoint;
using net::IpAddress;

using PortSet = std::bitset<65536>;

// Collects the local ports of LISTEN sockets (a first, cheap LISTEN-only dump).
class ListeningPorts final : public SocketVisitor {
 public:
  void on_socket(const SocketRecord& socket) override;
  const PortSet& ports() const { return ports_; }

 private:
  PortSet ports_;
};

class SocketTableAggregator final : public SocketVisitor {
 public:
  // Past this many distinct destinations (per table), new ones are summed straight into `other`:
  // a hard memory bound (~4 MiB) even for a host talking to millions of peers.
  static constexpr std::size_t kMaxTrackedDestinations = 65536;

  // `history` may be null (no per-socket counters); when set it must outlive the aggregator.
  SocketTableAggregator(const EphemeralPortRange& range, const PortSet& listening_ports,
                        std::size_t max_tracked = kMaxTrackedDestinations,
                        SocketCounterHistory* history = nullptr);

  void on_socket(const SocketRecord& socket) override;
  void mark_interrupted() { interrupted_ = true; }

  // Top `max_destinations` of each table, the rest summed into `other`.
  SocketTableSummary summarize(std::size_t max_destinations) const;

 private:
  struct PortKey {
    IpAddress source;
    Endpoint destination;
    bool operator==(const PortKey&) const = default;
  };
  struct PortKeyHash {
    std::size_t operator()(const PortKey& k) const noexcept {
      return std::hash<Endpoint>{}(k.destination) * 1000003U ^ k.source.hash();
    }
  };

  struct Quality {
    std::uint64_t retransmitted = 0;
    std::uint64_t sent = 0;
    std::uint64_t rtt_sockets = 0;
    std::uint64_t rtt_sum_us = 0;
    std::uint32_t rtt_max_us = 0;
  };
  void add_quality(const SocketRecord& socket, const Endpoint& destination);

  EphemeralPortRange range_;
  PortSet listening_;
  std::size_t max_tracked_;
  SocketCounterHistory* history_;
  std::unordered_map<Endpoint, Quality> quality_;
  Quality quality_untracked_;
  std::array<std::uint64_t, kTcpStateCount> by_state_{};
  std::uint64_t sockets_ = 0;
  std::unordered_map<Endpoint, std::uint64_t> time_wait_;
  std::uint64_t time_wait_untracked_ = 0;
  std::unordered_map<PortKey, std::uint64_t, PortKeyHash> ports_;
  std::uint64_t ports_untracked_ = 0;
  bool interrupted_ = false;
};

}  // namespace connwatch::kernel
