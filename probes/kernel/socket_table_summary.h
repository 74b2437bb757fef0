// What one sock_diag collection found: sockets by state, TIME_WAIT and ephemeral ports in use per
// destination (top-K plus `other`). Plain data for metrics and --diagnose.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "probes/kernel/endpoint.h"
#include "probes/kernel/ip_address.h"
#include "probes/kernel/tcp_state.h"

namespace connwatch::kernel {

struct DestinationTimeWait {
  Endpoint destination;
  std::uint64_t sockets = 0;
};

// The 4-tuple limit is per (source address, destination address, destination port); a destination
// reached from several source addresses is reported by its busiest one, the closest to running out.
struct DestinationPortUsage {
  Endpoint destination;
  IpAddress source;
  std::uint64_t in_use = 0;  // non-listening sockets with an ephemeral local port, TIME_WAIT too
  double utilization = 0;    // in_use / EphemeralPortRange::usable(), 0..1
};

struct SocketTableSummary {
  std::array<std::uint64_t, kTcpStateCount> by_state{};  // indexed by index_of(TcpState)
  std::uint64_t sockets = 0;                             // every socket counted in by_state

  // Outgoing TIME_WAIT sockets by remote endpoint, most first, at most max_destinations.
  std::vector<DestinationTimeWait> time_wait;
  std::uint64_t time_wait_other = 0;  // the sum over every destination not listed
  std::size_t time_wait_destinations = 0;

  // Ephemeral ports in use by destination, most first, at most max_destinations.
  std::vector<DestinationPortUsage> ports_in_use;
  std::uint64_t ports_in_use_other = 0;  // the sum over every destination not listed
  // The highest utilization among the destinations folded into `other`: summing ratios means
  // nothing, and alerting on max(utilization) must still see a destination outside the top-K.
  double utilization_other = 0;
  std::size_t port_destinations = 0;
  std::size_t usable_ports = 0;  // the denominator used

  // The kernel flagged the dump NLM_F_DUMP_INTR: its tables changed while it was being read, so a
  // socket may be missing or counted twice (ss shows the same caveat).
  bool interrupted = false;

  std::uint64_t count(TcpState state) const { return by_state[index_of(state)]; }
};

}  // namespace connwatch::kernel
