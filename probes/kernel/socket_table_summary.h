// What one sock_diag collection found: sockets by state, TIME_WAIT and ephemeral ports in use per
// destination (top-K plus `other`). Plain data for metrics and --diagnose.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "net/endpoint.h"
#include "net/ip_address.h"
#include "probes/kernel/tcp_state.h"

namespace connwatch::kernel {

// The shared address types (net/), by the names this module used before they were shared.
using net::Endpoint;
using net::IpAddress;

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

// How the path to a destination behaves, from its sockets' tcp_info (issue 23): segments since the
// previous collection (a lower bound: sockets that closed in between are not seen) and the
// smoothed RTT of its established sockets.
struct DestinationQuality {
  Endpoint destination;
  std::uint64_t retransmitted = 0;  // tcpi_total_retrans deltas
  std::uint64_t sent = 0;           // tcpi_segs_out deltas
  std::uint64_t rtt_sockets = 0;    // established sockets with an RTT sample
  double rtt_mean_seconds = 0;      // mean of their tcpi_rtt; 0 when rtt_sockets is 0
  double rtt_max_seconds = 0;
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

  // Per-destination path quality, lossiest first, at most max_destinations; only when the dump
  // asked for tcp_info (has_quality). quality_other sums the rest (its RTT over all their sockets).
  bool has_quality = false;
  std::vector<DestinationQuality> quality;
  DestinationQuality quality_other;
  std::size_t quality_destinations = 0;

  // The kernel flagged the dump NLM_F_DUMP_INTR: its tables changed while it was being read, so a
  // socket may be missing or counted twice (ss shows the same caveat).
  bool interrupted = false;

  std::uint64_t count(TcpState state) const { return by_state[index_of(state)]; }
};

}  // namespace connwatch::kernel
