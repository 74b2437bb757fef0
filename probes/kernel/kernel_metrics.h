// The kernel families of SPEC §4 in a prometheus::Registry, plus
// connwatch_kernel_collector_errors_total{collector}: failed reads per source (a degraded source
// logs and bumps a stat, it does not stop the others). Registered at construction (registration
// may throw, at startup); update() never throws and is called from one thread at a time.
//
// Gauges of a source that failed in a collection are removed until it recovers, so a scrape
// shows no number rather than a stale one. Per-destination gauges keep exactly the current top-K
// (plus `other` when something was folded into it): a destination that leaves it loses its series.
// connwatch_kernel_tcp_events_total mirrors the kernel's value; when the kernel's counter goes
// backwards (another network namespace, a reboot under a long-lived registry) the series is
// recreated, which Prometheus reads as a counter reset.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "probes/kernel/kernel_snapshot.h"
#include "probes/kernel/tcp_event_counter.h"

namespace prometheus {
class Registry;
class Gauge;
class Counter;
template <typename T>
class Family;
}  // namespace prometheus

namespace connwatch::kernel {

class KernelMetrics {
 public:
  explicit KernelMetrics(prometheus::Registry& registry);
  KernelMetrics(const KernelMetrics&) = delete;
  KernelMetrics& operator=(const KernelMetrics&) = delete;

  void update(const KernelSnapshot& snapshot);
  void count_error(std::string_view collector);

 private:
  // A gauge family whose series are replaced wholesale each collection.
  class GaugeSeries {
   public:
    GaugeSeries(prometheus::Family<prometheus::Gauge>& family, std::string label);
    // The family holds exactly these (label value, value) series afterwards.
    void assign(const std::vector<std::pair<std::string, double>>& values);
    void set(double value);  // for unlabelled families
    void clear();

   private:
    prometheus::Family<prometheus::Gauge>* family_;
    std::string label_;
    std::unordered_map<std::string, prometheus::Gauge*> series_;
  };

  void update_tcp_events(const TcpEventCounts& counts);

  GaugeSeries sockets_;
  GaugeSeries time_wait_;
  GaugeSeries ports_in_use_;
  GaugeSeries port_range_size_;
  GaugeSeries utilization_;
  GaugeSeries file_descriptors_;
  GaugeSeries file_descriptors_limit_;
  GaugeSeries conntrack_entries_;
  GaugeSeries conntrack_limit_;
  prometheus::Family<prometheus::Counter>* tcp_events_;
  std::array<prometheus::Counter*, kTcpEventCounterCount> tcp_event_series_{};
  std::array<std::uint64_t, kTcpEventCounterCount> tcp_event_last_{};
  prometheus::Family<prometheus::Counter>* collector_errors_;
  std::unordered_map<std::string, prometheus::Counter*> collector_error_series_;
};

}  // namespace connwatch::kernel
