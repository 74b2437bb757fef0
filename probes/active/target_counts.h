// One target's counts as plain numbers: what snapshots and diagnose read.
#pragma once

#include <array>
#include <cstdint>
#include <optional>

#include "probes/active/close_reason.h"
#include "probes/active/outcome.h"

namespace connwatch::active {

// Plain counts of one target, what snapshots and diagnose read.
struct TargetCounts {
  std::array<std::uint64_t, kAllOutcomes.size()> attempts{};
  std::array<std::uint64_t, kAllProbeResults.size()> results{};
  std::array<std::uint64_t, kAllCloseReasons.size()> closed{};
  std::uint64_t probes = 0;
  std::uint64_t retries = 0;
  std::uint64_t opened = 0;
  std::uint64_t requests_new = 0;
  std::uint64_t requests_reused = 0;
  std::uint64_t stale_resets = 0;
  std::uint64_t dns_resolutions = 0;
  std::uint64_t dns_address_changes = 0;
  int active = 0;
  int idle = 0;
  std::optional<double> peer_idle_close_seconds;  // shortest seen
  std::uint64_t tcp_retransmits = 0;              // TCP_INFO of the probe connections
  std::optional<double> tcp_rtt_seconds;          // smoothed RTT, last reading
};

}  // namespace connwatch::active
