// The kernel families of SPEC §4 in a prometheus::Registry, plus
// connwatch_kernel_collector_errors_total{collector}: failed reads per source (a degraded source
// logs and bumps a stat, it does not stop the others). Registered at construction (registration
// may throw, at startup); update() never throws and is called from one thread at a time.
//
// Every socket, port and counter family carries `netns` (SPEC §4): the namespaces the collector
// ranked into the top max_namespaces have their own series, the rest are summed into
// netns="other" (destinations there all "other"), so `sum without (netns)` is the host's figure.
// Gauges of a source that failed in a collection are removed until it recovers, so a scrape
// shows no number rather than a stale one. Per-destination series keep exactly the current top-K
// (plus `other` when something was folded into it): a destination that leaves it loses its series,
// and so does a namespace that vanished.
// connwatch_kernel_tcp_events_total mirrors each namespace's kernel value; when it goes backwards
// (a namespace's inode reused, a reboot under a long-lived registry) the series is recreated,
// which Prometheus reads as a counter reset. The per-destination segment counters add the deltas
// the collector measured.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
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
  using LabelValues = std::vector<std::string>;  // in the order of the family's label names

  // A gauge family whose series are replaced wholesale each collection.
  class GaugeSeries {
   public:
    GaugeSeries(prometheus::Family<prometheus::Gauge>& family, std::vector<std::string> labels);
    // The family holds exactly these series afterwards.
    void assign(const std::vector<std::pair<LabelValues, double>>& values);
    void clear() { assign({}); }

   private:
    prometheus::Family<prometheus::Gauge>* family_;
    std::vector<std::string> labels_;
    std::map<LabelValues, prometheus::Gauge*> series_;
  };

  // A counter family whose series are created on first use and removed when not kept.
  class CounterSeries {
   public:
    CounterSeries(prometheus::Family<prometheus::Counter>& family, std::vector<std::string> labels);
    void add(const LabelValues& values, double delta);
    void reset(const LabelValues& values);  // removes the series; the next add starts it anew
    void keep_only(const std::vector<LabelValues>& keep);

   private:
    prometheus::Family<prometheus::Counter>* family_;
    std::vector<std::string> labels_;
    std::map<LabelValues, prometheus::Counter*> series_;
  };

  struct NamespaceCounters {
    std::array<std::optional<std::uint64_t>, kTcpEventCounterCount> last{};
  };

  void update_tcp_events(const std::vector<const NamespaceSnapshot*>& namespaces);
  void update_quality(const std::vector<const NamespaceSnapshot*>& namespaces);

  GaugeSeries sockets_;
  GaugeSeries time_wait_;
  GaugeSeries ports_in_use_;
  GaugeSeries port_range_size_;
  GaugeSeries utilization_;
  GaugeSeries rtt_;
  GaugeSeries namespaces_;
  GaugeSeries file_descriptors_;
  GaugeSeries file_descriptors_limit_;
  GaugeSeries conntrack_entries_;
  GaugeSeries conntrack_limit_;
  CounterSeries tcp_events_;
  CounterSeries retransmitted_;
  CounterSeries sent_;
  std::map<std::uint64_t, NamespaceCounters> counters_by_inode_;
  prometheus::Family<prometheus::Counter>* collector_errors_;
  std::unordered_map<std::string, prometheus::Counter*> collector_error_series_;
};

}  // namespace connwatch::kernel
