#include "probes/kernel/kernel_metrics.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <unordered_set>

#include "probes/kernel/collectors.h"

namespace connwatch::kernel {
namespace {

constexpr std::string_view kOther = "other";

prometheus::Family<prometheus::Gauge>& gauge(prometheus::Registry& registry, const char* name,
                                             const char* help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(registry);
}

}  // namespace

KernelMetrics::GaugeSeries::GaugeSeries(prometheus::Family<prometheus::Gauge>& family,
                                        std::string label)
    : family_(&family), label_(std::move(label)) {}

void KernelMetrics::GaugeSeries::assign(const std::vector<std::pair<std::string, double>>& values) {
  std::unordered_set<std::string> keep;
  for (const auto& [label_value, value] : values) {
    auto it = series_.find(label_value);
    if (it == series_.end()) {
      prometheus::Labels labels;
      if (!label_.empty()) labels.emplace(label_, label_value);
      it = series_.emplace(label_value, &family_->Add(labels)).first;
    }
    it->second->Set(value);
    keep.insert(label_value);
  }
  for (auto it = series_.begin(); it != series_.end();) {
    if (keep.count(it->first) == 0) {
      family_->Remove(it->second);
      it = series_.erase(it);
    } else {
      ++it;
    }
  }
}

void KernelMetrics::GaugeSeries::set(double value) { assign({{std::string{}, value}}); }

void KernelMetrics::GaugeSeries::clear() { assign({}); }

KernelMetrics::KernelMetrics(prometheus::Registry& registry)
    : sockets_(gauge(registry, "connwatch_sockets",
                     "TCP sockets in the agent's network namespace by state (sock_diag)."),
               "state"),
      time_wait_(gauge(registry, "connwatch_time_wait_sockets",
                       "Outgoing TIME_WAIT sockets by destination ip:port; destinations beyond "
                       "the top-K are summed into other."),
                 "destination"),
      ports_in_use_(gauge(registry, "connwatch_ephemeral_ports_in_use",
                          "Ephemeral local ports held by sockets to a destination, TIME_WAIT "
                          "included (busiest source address); beyond the top-K summed into other."),
                    "destination"),
      port_range_size_(gauge(registry, "connwatch_ephemeral_port_range_size",
                             "Ports in net.ipv4.ip_local_port_range."),
                       ""),
      utilization_(gauge(registry, "connwatch_ephemeral_port_utilization_ratio",
                         "Ephemeral ports in use to a destination divided by the usable range "
                         "(ip_local_port_range minus ip_local_reserved_ports); other holds the "
                         "highest ratio among destinations beyond the top-K."),
                   "destination"),
      file_descriptors_(gauge(registry, "connwatch_file_descriptors",
                              "System-wide allocated file handles (/proc/sys/fs/file-nr)."),
                        ""),
      file_descriptors_limit_(gauge(registry, "connwatch_file_descriptors_limit",
                                    "System-wide file handle limit (fs.file-max)."),
                              ""),
      conntrack_entries_(gauge(registry, "connwatch_conntrack_entries",
                               "Connection tracking entries (nf_conntrack_count)."),
                         ""),
      conntrack_limit_(gauge(registry, "connwatch_conntrack_limit",
                             "Connection tracking table size (nf_conntrack_max)."),
                       ""),
      tcp_events_(&prometheus::BuildCounter()
                       .Name("connwatch_kernel_tcp_events_total")
                       .Help("Kernel TCP counters from /proc/net/snmp (Tcp) and /proc/net/netstat "
                             "(TcpExt), mirrored as they are.")
                       .Register(registry)),
      collector_errors_(&prometheus::BuildCounter()
                             .Name("connwatch_kernel_collector_errors_total")
                             .Help("Failed reads of a kernel source; the other sources go on.")
                             .Register(registry)) {
  for (const CollectorEntry& entry : kernel_collectors()) {
    const std::string name(entry.name);
    collector_error_series_.emplace(name, &collector_errors_->Add({{"collector", name}}));
  }
}

void KernelMetrics::count_error(std::string_view collector) {
  auto it = collector_error_series_.find(std::string(collector));
  if (it == collector_error_series_.end()) return;  // only registered names: a bounded label
  it->second->Increment();
}

void KernelMetrics::update_tcp_events(const TcpEventCounts& counts) {
  for (const TcpEventCounter c : kAllTcpEventCounters) {
    const std::size_t i = index_of(c);
    if (!counts[i]) continue;  // not read this time: keep the last value
    const std::uint64_t value = *counts[i];
    prometheus::Counter*& series = tcp_event_series_[i];
    if (series != nullptr && value < tcp_event_last_[i]) {
      tcp_events_->Remove(series);
      series = nullptr;
    }
    if (series == nullptr) {
      series = &tcp_events_->Add({{"counter", std::string(to_string(c))}});
      series->Increment(static_cast<double>(value));
    } else {
      series->Increment(static_cast<double>(value - tcp_event_last_[i]));
    }
    tcp_event_last_[i] = value;
  }
}

void KernelMetrics::update(const KernelSnapshot& snapshot) {
  if (snapshot.port_range) {
    port_range_size_.set(static_cast<double>(snapshot.port_range->size()));
  } else {
    port_range_size_.clear();
  }

  if (const auto& s = snapshot.sockets) {
    std::vector<std::pair<std::string, double>> states;
    for (const TcpState st : kAllTcpStates) {
      states.emplace_back(std::string(to_string(st)), static_cast<double>(s->count(st)));
    }
    sockets_.assign(states);

    std::vector<std::pair<std::string, double>> tw;
    for (const auto& d : s->time_wait) {
      tw.emplace_back(d.destination.to_string(), static_cast<double>(d.sockets));
    }
    if (s->time_wait_other > 0) tw.emplace_back(kOther, static_cast<double>(s->time_wait_other));
    time_wait_.assign(tw);

    std::vector<std::pair<std::string, double>> in_use;
    std::vector<std::pair<std::string, double>> ratio;
    for (const auto& d : s->ports_in_use) {
      in_use.emplace_back(d.destination.to_string(), static_cast<double>(d.in_use));
      ratio.emplace_back(d.destination.to_string(), d.utilization);
    }
    if (s->ports_in_use_other > 0) {
      in_use.emplace_back(kOther, static_cast<double>(s->ports_in_use_other));
      ratio.emplace_back(kOther, s->utilization_other);
    }
    ports_in_use_.assign(in_use);
    utilization_.assign(ratio);
  } else {
    sockets_.clear();
    time_wait_.clear();
    ports_in_use_.clear();
    utilization_.clear();
  }

  if (const auto& fds = snapshot.file_descriptors) {
    file_descriptors_.set(static_cast<double>(fds->allocated));
    file_descriptors_limit_.set(static_cast<double>(fds->maximum));
  } else {
    file_descriptors_.clear();
    file_descriptors_limit_.clear();
  }

  if (const auto& ct = snapshot.conntrack) {
    conntrack_entries_.set(static_cast<double>(ct->entries));
    conntrack_limit_.set(static_cast<double>(ct->limit));
  } else {
    conntrack_entries_.clear();
    conntrack_limit_.clear();
  }

  update_tcp_events(snapshot.tcp_events);
}

}  // namespace connwatch::kernel
