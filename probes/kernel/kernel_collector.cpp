#include "probes/kernel/kernel_collector.h"

#include <spdlog/spdlog.h>

#include <array>
#include <chrono>

#include "probes/kernel/collectors.h"
#include "probes/kernel/kernel_metrics.h"

namespace connwatch::kernel {
namespace {

// The registration table: one line per source, in run order.
constexpr std::array<CollectorEntry, 7> kCollectors = {{
    {"port_range", &collect_port_range},
    {"sock_diag", &collect_sock_diag},
    {"file_nr", &collect_file_nr},
    {"process_fds", &collect_process_fds},
    {"snmp", &collect_snmp},
    {"netstat", &collect_netstat},
    {"conntrack", &collect_conntrack},
}};

}  // namespace

std::span<const CollectorEntry> kernel_collectors() { return kCollectors; }

KernelCollector::KernelCollector(KernelOptions options, KernelMetrics* metrics)
    : options_(std::move(options)), metrics_(metrics), failing_(kCollectors.size(), false) {}

KernelSnapshot KernelCollector::collect_once() {
  KernelSnapshot snapshot;
  snapshot.taken_at = std::chrono::system_clock::now();
  const auto start = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < kCollectors.size(); ++i) {
    const CollectorEntry& entry = kCollectors[i];
    std::error_code ec;
    try {
      ec = entry.collect(options_, snapshot);
    } catch (const std::exception& e) {
      // Collectors do not throw by design; an allocation failure must still not kill the poller.
      ec = std::make_error_code(std::errc::not_enough_memory);
    }
    if (ec) {
      snapshot.failures.push_back({std::string(entry.name), ec});
      if (metrics_ != nullptr) metrics_->count_error(entry.name);
      if (!failing_[i]) {
        spdlog::warn("kernel collector {} failed: {} (logged once until it recovers)", entry.name,
                     ec.message());
        failing_[i] = true;
      }
    } else if (failing_[i]) {
      spdlog::info("kernel collector {} recovered", entry.name);
      failing_[i] = false;
    }
  }
  snapshot.duration = std::chrono::steady_clock::now() - start;
  if (metrics_ != nullptr) metrics_->update(snapshot);
  return snapshot;
}

}  // namespace connwatch::kernel
