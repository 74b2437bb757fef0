// Runs every kernel source once, in the agent's network namespace: the synchronous entry point for
// `agent --diagnose`, and what KernelPoller calls every interval. A failing source is logged once
// (until it recovers), counted in connwatch_kernel_collector_errors_total, and does not stop the
// others.
//
// With options.all_namespaces, the per-namespace sources then run once inside every other network
// namespace of the host, on a short-lived thread of its own that enters each in turn with setns
// (the calling thread never moves). A namespace that cannot be entered is counted and logged once.
// Per-socket tcp_info counters are kept per namespace (SocketCounterHistory) between collections;
// a vanished namespace's history is dropped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include "probes/kernel/kernel_options.h"
#include "probes/kernel/kernel_snapshot.h"
#include "probes/kernel/network_namespaces.h"
#include "probes/kernel/socket_counter_history.h"

namespace connwatch::kernel {

class KernelMetrics;

class KernelCollector {
 public:
  // `metrics` may be null (diagnose without an exporter); when set it must outlive the collector.
  explicit KernelCollector(KernelOptions options, KernelMetrics* metrics = nullptr);

  // Reads all sources, updates the metrics, returns what it found. Never throws.
  KernelSnapshot collect_once();

  const KernelOptions& options() const { return options_; }

 private:
  void collect_sources(const KernelOptions& options, bool per_namespace_only,
                       KernelSnapshot& snapshot);
  NamespaceSnapshot collect_namespace(const NetworkNamespace& ns);
  std::vector<NamespaceSnapshot> collect_other_namespaces(
      const std::vector<NetworkNamespace>& namespaces);
  void rank_namespaces(KernelSnapshot& snapshot) const;

  KernelOptions options_;
  KernelMetrics* metrics_;
  std::vector<bool> failing_;  // per registered collector: already logged as failing
  NamespaceDirectory directory_;
  std::map<std::uint64_t, std::unique_ptr<SocketCounterHistory>> histories_;  // by netns inode
  std::set<std::uint64_t> logged_unreadable_;  // namespaces already logged as not enterable
};

}  // namespace connwatch::kernel
