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
  // From every completed probe's report: the HTTP status codes of failed probes (status -> probes)
  // and a few distinct error texts per failing outcome (the first ones seen, at most 3 each).
  std::map<int, std::uint64_t> failed_statuses;
  std::map<active::Outcome, std::vector<std::string>> errors;
};

struct ProcessFds {
  int pid = 0;
  std::string comm;
  std::uint64_t open = 0;
  std::uint64_t limit = 0;
  // Targets it would break when it runs out: those it listens for (a local server) and those it
  // holds connections to (a client), by target name.
  std::vector<std::string> serves_targets;
  std::vector<std::string> client_of_targets;
};

// A process's open descriptors over the run, from the sampler's once-a-second fd samples (taken
// while it was at or above half its limit).
struct FdTrend {
  int pid = 0;
  std::string comm;
  std::uint64_t first_open = 0;
  std::uint64_t last_open = 0;
  std::uint64_t limit = 0;
  double seconds = 0;  // between the first and the last sample
};

// A process seen holding live sockets to a destination: never connwatch itself.
struct SocketHolder {
  int pid = 0;
  std::string comm;
  std::uint64_t sockets = 0;   // distinct sockets it was seen holding
  std::uint64_t samples = 0;   // owner samples that saw it hold one
  std::uint64_t connects = 0;  // connect() calls to the destination (the connect tracepoint)
};

// Connects to one destination in one network namespace, by process, from the connect
// tracepoint (probes/kernel/connect_trace.h): every connect() on the host, with its caller.
struct DestinationConnects {
  std::string netns;                 // the `netns` label value of the caller's namespace
  bool self = false;                 // the namespace connwatch measures (its own, or --netns)
  std::string destination;           // "ip:port"
  std::uint64_t connects = 0;        // every caller's but connwatch's
  std::uint64_t own_connects = 0;    // connwatch's own probes: never named as the cause
  std::vector<SocketHolder> owners;  // most connects first
};

// One destination as the sampler thread watched it (sampler.h says how owners are attributed).
struct DestinationActivity {
  std::string destination;                  // "ip:port"
  std::uint64_t time_wait_entries = 0;      // TIME_WAIT sockets that appeared while sampling
  std::uint64_t time_wait_early_exits = 0;  // left before their 60 s: reused or killed
  std::uint64_t time_wait_peak = 0;
  std::vector<SocketHolder> owners;     // most sockets first
  std::uint64_t live_sockets_seen = 0;  // distinct live sockets to it the owner samples saw
  std::uint64_t own_sockets = 0;        // of those, connwatch's own: never named as the cause
  std::uint64_t owner_samples = 0;      // owner samples taken while it was watched
};

// TcpExt counters of TIME_WAIT from /proc/net/netstat: TW (sockets that entered TIME_WAIT; older
// kernels count those whose timer expired), TWRecycled (reused for a new connection by
// tcp_tw_reuse), TWKilled.
struct TimeWaitCounters {
  std::optional<std::uint64_t> entered;
  std::optional<std::uint64_t> recycled;
  std::optional<std::uint64_t> killed;
};

// A config target a diagnose run does not probe, and why.
struct SkippedTarget {
  std::string name;
  std::string url;
  std::string reason;
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
  // Client-side TIME_WAIT entries the capture had counted when the run ended. `passive` is read
  // later (after the probes unwind and the ring hands over its last block), so its counts run on
  // past the window the sampler's counts cover; rates use this one.
  std::optional<std::uint64_t> captured_time_wait_entries;

  // Kernel tables and counters at the start and the end.
  kernel::KernelSnapshot kernel_start;
  kernel::KernelSnapshot kernel_end;
  // The highest port utilization any sample saw, and where.
  std::optional<kernel::DestinationPortUsage> peak_port_usage;
  // What the sampler thread counted: TIME_WAIT entries per destination (the busiest ones) and
  // the owners of their live sockets, over time_wait_sampled_seconds.
  std::map<std::string, DestinationActivity> destinations;  // by destination "ip:port"
  double time_wait_sampled_seconds = 0;
  std::uint64_t time_wait_samples = 0;
  TimeWaitCounters time_wait_counters_start;
  TimeWaitCounters time_wait_counters_end;
  std::optional<std::uint64_t> tcp_tw_reuse;        // net.ipv4.tcp_tw_reuse
  std::vector<ProcessFds> processes_near_fd_limit;  // open >= 0.8 of their limit
  std::map<int, FdTrend> fd_trends;                 // by pid
  std::optional<std::uint64_t> somaxconn;
  std::map<std::string, DestinationLoss> destination_loss;  // by "netns destination"
  // The connect tracepoint over the sampled window: on when connect_trace_error is empty.
  std::map<std::string, DestinationConnects> connects;  // by "netns destination"
  bool connect_trace = false;
  std::string connect_trace_error;       // why it is off ("" when on)
  std::uint64_t connect_trace_lost = 0;  // events the kernel dropped: counts are lower bounds
  std::string own_netns;                 // the measured namespace's `netns` name
  int own_pid = 0;                       // connwatch itself

  std::vector<SkippedTarget> skipped_targets;

  std::vector<TargetObservation> targets;
};

}  // namespace connwatch::agent::diagnose
