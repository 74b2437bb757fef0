// Everything one diagnose run observed, as plain data: the input of every rule. Rules are pure
// functions of this struct, so tests build one by hand and the measurement run fills it for real.
#pragma once

#include <prometheus/metric_family.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "probes/active/target_snapshot.h"
#include "probes/kernel/kernel_snapshot.h"
#include "probes/kernel/socket_owners.h"
#include "probes/passive/passive_snapshot.h"

namespace connwatch::agent::diagnose {

// Pooled connections that stayed on an address the target's name no longer resolves to.
struct StaleAddress {
  std::vector<std::string> before;  // the addresses the name resolved to first, "ip:port"
  std::vector<std::string> after;   // what it resolves to now
  int connections = 0;              // open pooled connections on an address not in `after`
  double seconds = 0;               // how long after the change they were last seen there
};

struct TargetObservation {
  config::Target config;          // as probed: its [pool] and [retry] after overrides
  active::TargetSnapshot probes;  // the regular probing, about once a second
  // The keep-alive measurement: one idle connection watched until the peer closed it. Its
  // attempts are on the wire too, so host-wide counts subtract them with the probes'.
  active::TargetCounts keep_alive_counts;
  std::optional<double> peer_idle_close_seconds;  // measured (shortest seen), nullopt: never
  std::optional<double> idle_watched_seconds;     // how long it stayed open when it did not close
  std::optional<std::chrono::seconds> server_keep_alive;  // announced in a Keep-Alive header
  std::optional<StaleAddress> stale_address;
};

struct ProcessFds {
  int pid = 0;
  std::string comm;
  std::uint64_t open = 0;
  std::uint64_t limit = 0;
};

// Segments to one destination over the run, from its sockets' tcp_info (issue 23): what the
// kernel collector's per-collection deltas add up to, and the RTT its last sample saw.
struct DestinationLoss {
  std::string netns;
  std::string destination;  // "ip:port"
  std::uint64_t retransmitted = 0;
  std::uint64_t sent = 0;
  double rtt_mean_seconds = 0;
  double rtt_max_seconds = 0;
};

struct Observations {
  double duration_seconds = 0;

  // Passive capture over the run.
  std::string interface;
  bool capture_enabled = true;
  bool capture_up = false;
  std::string capture_error;
  passive::PassiveSnapshot passive;
  // The passive families of SPEC §4 over the run, for --push-gateway / --textfile.
  std::vector<prometheus::MetricFamily> passive_families;

  // Kernel tables and counters at the start and the end.
  kernel::KernelSnapshot kernel_start;
  kernel::KernelSnapshot kernel_end;
  // The highest port utilization any sample saw, and where.
  std::optional<kernel::DestinationPortUsage> peak_port_usage;
  // Owners of live sockets to the busiest TIME_WAIT destinations, merged over the samples.
  std::map<std::string, kernel::DestinationOwners> owners;  // by destination "ip:port"
  std::vector<ProcessFds> processes_near_fd_limit;          // open >= 0.8 of their limit
  std::optional<std::uint64_t> somaxconn;
  std::map<std::string, DestinationLoss> destination_loss;  // by "netns destination"

  std::vector<TargetObservation> targets;
};

}  // namespace connwatch::agent::diagnose
