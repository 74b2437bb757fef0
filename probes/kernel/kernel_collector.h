// Runs every kernel source once, in the agent's network namespace: the synchronous entry point for
// `agent --diagnose`, and what KernelPoller calls every interval. A failing source is logged once
// (until it recovers), counted in connwatch_kernel_collector_errors_total, and does not stop the
// others.
#pragma once

#include <cstddef>
#include <vector>

#include "probes/kernel/kernel_options.h"
#include "probes/kernel/kernel_snapshot.h"

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
  KernelOptions options_;
  KernelMetrics* metrics_;
  std::vector<bool> failing_;  // per registered collector: already logged as failing
};

}  // namespace connwatch::kernel
