// The sampler thread of a diagnose run: everything that reads kernel tables and /proc while the
// probes run, kept off the io thread that times them (a /proc scan takes milliseconds to tens of
// milliseconds on a busy host, and on the io thread it delayed probe completions into their phase
// times, or past their deadline).
//
// Every `interval` (or four times as long as the last sample took, to stay under a quarter of a
// core on a busy host) it dumps the TIME_WAIT sockets (TimeWaitTracker counts entries per
// destination) and samples who owns the live sockets to the watched destinations: the three with
// the most TIME_WAIT entries and the one using most ephemeral ports. Every `kernel_interval` it
// takes a KernelCollector snapshot (peak port usage) and the fd usage of processes at or above half
// their limit (growth rates).
//
// How owners are attributed. First, and exactly where the kernel allows it: every connect() on the
// host, with its caller's pid, from the sock:inet_sock_set_state tracepoint (connect_trace.h),
// tallied per (caller's network namespace, destination, process); a churner is named by the
// connections it opened, however short they live. Where tracefs cannot be used (no root, a
// container's pid namespace, an old kernel), the report says why and samples stand in.
// Samples: TIME_WAIT sockets have no owner (kernel minisocks, inode 0), so the
// owner of a destination's TIME_WAIT is the process seen holding its live sockets: a sock_diag dump
// of the destination's live sockets (their inodes), a scan of /proc/<pid>/fd of the processes in
// this network namespace ("socket:[inode]" links), and a second dump; an inode found in the scan
// and in either dump is that process's. A client that opens a connection per request holds one
// for a few milliseconds, but it holds one most of the time, and with a scan of one namespace's
// processes between two dumps a few milliseconds apart, a few samples a second catch it. The
// agent's own sockets (probes, measurements) are counted apart and never named.
#pragma once

#include <chrono>
#include <map>
#include <memory>

#include "agent/diagnose/observations.h"
#include "probes/kernel/kernel_collector.h"

namespace connwatch::agent::diagnose {

// Adds one collection's per-destination segment deltas (tcp_info, every namespace) to `loss`,
// keyed "netns destination"; the RTT is the collection's.
void add_destination_loss(std::map<std::string, DestinationLoss>& loss,
                          const kernel::KernelSnapshot& snap);

struct SamplerOptions {
  // TIME_WAIT and owner samples. A churner's connection lives a few ms, so each owner sample
  // catches one with a small chance: 20 ms gives a 4 s run ~200 tries on a quiet host, where
  // 100 ms missed the churner in loaded CI runs; the quarter-core rule stretches it on a busy one.
  std::chrono::milliseconds interval{20};
  std::chrono::milliseconds kernel_interval{1000};  // socket summary, fd usage
  int own_pid = 0;                                  // connwatch: never named as an owner
  bool connect_trace = true;  // use the connect tracepoint when the kernel and privileges allow
  std::filesystem::path proc_root = "/proc";
};

class Sampler {
 public:
  // `collector` is used only on the sampler's thread between start() and stop().
  Sampler(SamplerOptions options, kernel::KernelCollector& collector);
  ~Sampler();  // stop()
  Sampler(const Sampler&) = delete;
  Sampler& operator=(const Sampler&) = delete;

  void start();
  // Stops and joins the thread (within one sample). Idempotent.
  void stop();
  // After stop(): the peak port usage, destinations, fd trends and TIME_WAIT sample span.
  void fill(Observations& obs) const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace connwatch::agent::diagnose
