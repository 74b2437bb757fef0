// Folds a streaming sock_diag dump into a SocketTableSummary without keeping the sockets: memory
// grows with the number of distinct destinations (capped), not with the number of sockets.
//
// Which sockets count per destination: only outgoing ones, whose local port is not a listening
// port. A server's accepted sockets have a client's ephemeral port as their remote port, which
// must never become a label value (SPEC §4) and would grow the tables without bound. TIME_WAIT per
// destination is then every outgoing TIME_WAIT socket; ports in use additionally need the local
// port to be ephemeral (in ip_local_port_range and not reserved), as SPEC §2 defines them.
#pragma once

#include <bitset>
#include <cstddef>
#include <cstdint>
#include <unordered_map>

#include "probes/kernel/endpoint.h"
#include "probes/kernel/ephemeral_port_range.h"
#include "probes/kernel/ip_address.h"
#include "probes/kernel/socket_record.h"
#include "probes/kernel/socket_table_summary.h"

namespace connwatch::kernel {

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

  SocketTableAggregator(const EphemeralPortRange& range, const PortSet& listening_ports,
                        std::size_t max_tracked = kMaxTrackedDestinations);

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

  EphemeralPortRange range_;
  PortSet listening_;
  std::size_t max_tracked_;
  std::array<std::uint64_t, kTcpStateCount> by_state_{};
  std::uint64_t sockets_ = 0;
  std::unordered_map<Endpoint, std::uint64_t> time_wait_;
  std::uint64_t time_wait_untracked_ = 0;
  std::unordered_map<PortKey, std::uint64_t, PortKeyHash> ports_;
  std::uint64_t ports_untracked_ = 0;
  bool interrupted_ = false;
};

}  // namespace connwatch::kernel
