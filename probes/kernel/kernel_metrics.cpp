#include "probes/kernel/kernel_metrics.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <algorithm>
#include <set>

#include "probes/kernel/collectors.h"

namespace connwatch::kernel {
namespace {

const std::string kOther = "other";

prometheus::Family<prometheus::Gauge>& gauge(prometheus::Registry& registry, const char* name,
                                             const char* help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(registry);
}

prometheus::Family<prometheus::Counter>& counter(prometheus::Registry& registry, const char* name,
                                                 const char* help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(registry);
}

prometheus::Labels labels_of(const std::vector<std::string>& names,
                             const std::vector<std::string>& values) {
  prometheus::Labels labels;
  for (std::size_t i = 0; i < names.size() && i < values.size(); ++i) {
    labels.emplace(names[i], values[i]);
  }
  return labels;
}

// The netns label of a namespace's series.
const std::string& label_of(const NamespaceSnapshot& ns) {
  return ns.own_series ? ns.name : kOther;
}

// A snapshot built by hand (tests, older callers) may have no namespace list: its top-level
// fields are then the agent's own namespace.
std::vector<NamespaceSnapshot> fallback_namespaces(const KernelSnapshot& s) {
  NamespaceSnapshot self;
  self.name = "self";
  self.self = true;
  self.port_range = s.port_range;
  self.sockets = s.sockets;
  self.tcp_events = s.tcp_events;
  return {self};
}

}  // namespace

KernelMetrics::GaugeSeries::GaugeSeries(prometheus::Family<prometheus::Gauge>& family,
                                        std::vector<std::string> labels)
    : family_(&family), labels_(std::move(labels)) {}

void KernelMetrics::GaugeSeries::assign(const std::vector<std::pair<LabelValues, double>>& values) {
  std::set<LabelValues> keep;
  for (const auto& [label_values, value] : values) {
    auto it = series_.find(label_values);
    if (it == series_.end()) {
      it = series_.emplace(label_values, &family_->Add(labels_of(labels_, label_values))).first;
    }
    it->second->Set(value);
    keep.insert(label_values);
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

KernelMetrics::CounterSeries::CounterSeries(prometheus::Family<prometheus::Counter>& family,
                                            std::vector<std::string> labels)
    : family_(&family), labels_(std::move(labels)) {}

void KernelMetrics::CounterSeries::add(const LabelValues& values, double delta) {
  auto it = series_.find(values);
  if (it == series_.end()) {
    it = series_.emplace(values, &family_->Add(labels_of(labels_, values))).first;
  }
  if (delta > 0) it->second->Increment(delta);
}

void KernelMetrics::CounterSeries::reset(const LabelValues& values) {
  const auto it = series_.find(values);
  if (it == series_.end()) return;
  family_->Remove(it->second);
  series_.erase(it);
}

void KernelMetrics::CounterSeries::keep_only(const std::vector<LabelValues>& keep) {
  const std::set<LabelValues> wanted(keep.begin(), keep.end());
  for (auto it = series_.begin(); it != series_.end();) {
    if (wanted.count(it->first) == 0) {
      family_->Remove(it->second);
      it = series_.erase(it);
    } else {
      ++it;
    }
  }
}

KernelMetrics::KernelMetrics(prometheus::Registry& registry)
    : sockets_(gauge(registry, "connwatch_sockets",
                     "TCP sockets by network namespace and state (sock_diag)."),
               {"netns", "state"}),
      time_wait_(gauge(registry, "connwatch_time_wait_sockets",
                       "TIME_WAIT sockets by destination ip:port (the server side's under its own "
                       "ip:port); destinations beyond the top-K are summed into other, so per "
                       "netns they sum to connwatch_sockets{state=\"time_wait\"}."),
                 {"netns", "destination"}),
      ports_in_use_(gauge(registry, "connwatch_ephemeral_ports_in_use",
                          "Ephemeral local ports held by sockets to a destination, TIME_WAIT "
                          "included (busiest source address); beyond the top-K summed into other."),
                    {"netns", "destination"}),
      port_range_size_(gauge(registry, "connwatch_ephemeral_port_range_size",
                             "Ports in the namespace's net.ipv4.ip_local_port_range."),
                       {"netns"}),
      utilization_(gauge(registry, "connwatch_ephemeral_port_utilization_ratio",
                         "Ephemeral ports in use to a destination divided by the usable range "
                         "(ip_local_port_range minus ip_local_reserved_ports); other holds the "
                         "highest ratio among destinations beyond the top-K."),
                   {"netns", "destination"}),
      rtt_(gauge(registry, "connwatch_destination_rtt_seconds",
                 "Smoothed RTT (tcp_info tcpi_rtt) of the established sockets to a destination: "
                 "their mean and their max."),
           {"netns", "destination", "stat"}),
      namespaces_(
          gauge(registry, "connwatch_network_namespaces",
                "Network namespaces found on the host, by whether the agent could enter "
                "them (needs CAP_SYS_ADMIN, and CAP_SYS_PTRACE for other users' processes)."),
          {"readable"}),
      file_descriptors_(gauge(registry, "connwatch_file_descriptors",
                              "System-wide allocated file handles (/proc/sys/fs/file-nr)."),
                        {}),
      file_descriptors_limit_(gauge(registry, "connwatch_file_descriptors_limit",
                                    "System-wide file handle limit (fs.file-max)."),
                              {}),
      conntrack_entries_(gauge(registry, "connwatch_conntrack_entries",
                               "Connection tracking entries (nf_conntrack_count)."),
                         {}),
      conntrack_limit_(gauge(registry, "connwatch_conntrack_limit",
                             "Connection tracking table size (nf_conntrack_max)."),
                       {}),
      tcp_events_(counter(registry, "connwatch_kernel_tcp_events_total",
                          "Kernel TCP counters from each namespace's /proc/net/snmp (Tcp) and "
                          "/proc/net/netstat (TcpExt), mirrored as they are."),
                  {"netns", "counter"}),
      retransmitted_(counter(registry, "connwatch_destination_retransmitted_segments_total",
                             "Segments retransmitted on sockets to a destination (tcp_info "
                             "tcpi_total_retrans, deltas between collections by socket cookie). A "
                             "lower bound: what a socket did between the last collection and its "
                             "close is not seen."),
                     {"netns", "destination"}),
      sent_(counter(registry, "connwatch_destination_sent_segments_total",
                    "Segments sent on sockets to a destination (tcp_info tcpi_segs_out, deltas "
                    "between collections by socket cookie). A lower bound, as the "
                    "retransmissions are."),
            {"netns", "destination"}),
      collector_errors_(&counter(registry, "connwatch_kernel_collector_errors_total",
                                 "Failed reads of a kernel source; the other sources go on.")) {
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

void KernelMetrics::update_tcp_events(const std::vector<const NamespaceSnapshot*>& namespaces) {
  std::vector<LabelValues> keep;
  std::map<std::uint64_t, NamespaceCounters> seen;
  for (const NamespaceSnapshot* ns : namespaces) {
    NamespaceCounters& state = counters_by_inode_[ns->inode];
    for (const TcpEventCounter c : kAllTcpEventCounters) {
      const std::size_t i = index_of(c);
      const LabelValues key = {label_of(*ns), std::string(to_string(c))};
      const auto& value = ns->tcp_events[i];
      if (!value) {
        // Not read this time: keep the last value (and the series, if it has one).
        if (state.last[i]) keep.push_back(key);
        continue;
      }
      const auto last = state.last[i];
      if (!last || *value < *last) {
        // New to us or gone backwards: the series starts again at the kernel's value (in
        // `other`, the value is added, since other sums many namespaces).
        if (ns->own_series) tcp_events_.reset(key);
        tcp_events_.add(key, static_cast<double>(*value));
      } else {
        tcp_events_.add(key, static_cast<double>(*value - *last));
      }
      state.last[i] = value;
      keep.push_back(key);
    }
    seen[ns->inode] = state;
  }
  counters_by_inode_ = std::move(seen);  // vanished namespaces are forgotten
  tcp_events_.keep_only(keep);
}

void KernelMetrics::update_quality(const std::vector<const NamespaceSnapshot*>& namespaces) {
  std::vector<LabelValues> keep;
  std::vector<std::pair<LabelValues, double>> rtt;
  for (const NamespaceSnapshot* ns : namespaces) {
    if (!ns->sockets || !ns->sockets->has_quality) continue;
    const auto& s = *ns->sockets;
    const std::string& netns = label_of(*ns);
    const auto count = [&](const std::string& destination, const DestinationQuality& q) {
      const LabelValues key = {netns, destination};
      retransmitted_.add(key, static_cast<double>(q.retransmitted));
      sent_.add(key, static_cast<double>(q.sent));
      keep.push_back(key);
    };
    if (ns->own_series) {
      for (const auto& d : s.quality) {
        const std::string destination = d.destination.to_string();
        count(destination, d);
        if (d.rtt_sockets > 0) {
          rtt.push_back({{netns, destination, "mean"}, d.rtt_mean_seconds});
          rtt.push_back({{netns, destination, "max"}, d.rtt_max_seconds});
        }
      }
      if (s.quality_destinations > s.quality.size()) count(kOther, s.quality_other);
    } else {
      DestinationQuality all = s.quality_other;
      for (const auto& d : s.quality) {
        all.retransmitted += d.retransmitted;
        all.sent += d.sent;
      }
      count(kOther, all);
    }
  }
  retransmitted_.keep_only(keep);
  sent_.keep_only(keep);
  rtt_.assign(rtt);
}

void KernelMetrics::update(const KernelSnapshot& snapshot) {
  std::vector<NamespaceSnapshot> fallback;
  if (snapshot.namespaces.empty()) fallback = fallback_namespaces(snapshot);
  const auto& list = snapshot.namespaces.empty() ? fallback : snapshot.namespaces;
  std::vector<const NamespaceSnapshot*> namespaces;
  for (const auto& ns : list) namespaces.push_back(&ns);

  namespaces_.assign({{{"true"}, static_cast<double>(list.size())},
                      {{"false"}, static_cast<double>(snapshot.unreadable_namespaces)}});

  std::vector<std::pair<LabelValues, double>> range_size;
  std::map<LabelValues, double> states;  // summed: several namespaces may fold into other
  std::map<LabelValues, double> tw;
  std::map<LabelValues, double> in_use;
  std::map<LabelValues, double> ratio;  // the highest
  for (const NamespaceSnapshot* ns : namespaces) {
    const std::string& netns = label_of(*ns);
    if (ns->port_range && ns->own_series) {
      range_size.push_back({{netns}, static_cast<double>(ns->port_range->size())});
    }
    if (!ns->sockets) continue;
    const auto& s = *ns->sockets;
    for (const TcpState st : kAllTcpStates) {
      states[{netns, std::string(to_string(st))}] += static_cast<double>(s.count(st));
    }
    if (ns->own_series) {
      for (const auto& d : s.time_wait) {
        tw[{netns, d.destination.to_string()}] += static_cast<double>(d.sockets);
      }
      if (s.time_wait_other > 0) tw[{netns, kOther}] += static_cast<double>(s.time_wait_other);
      for (const auto& d : s.ports_in_use) {
        in_use[{netns, d.destination.to_string()}] += static_cast<double>(d.in_use);
        ratio[{netns, d.destination.to_string()}] = d.utilization;
      }
      if (s.ports_in_use_other > 0) {
        in_use[{netns, kOther}] += static_cast<double>(s.ports_in_use_other);
        auto& r = ratio[{netns, kOther}];
        r = std::max(r, s.utilization_other);
      }
    } else {
      double time_wait = static_cast<double>(s.time_wait_other);
      for (const auto& d : s.time_wait) time_wait += static_cast<double>(d.sockets);
      double ports = static_cast<double>(s.ports_in_use_other);
      double highest = s.utilization_other;
      for (const auto& d : s.ports_in_use) {
        ports += static_cast<double>(d.in_use);
        highest = std::max(highest, d.utilization);
      }
      if (time_wait > 0) tw[{kOther, kOther}] += time_wait;
      if (ports > 0) {
        in_use[{kOther, kOther}] += ports;
        auto& r = ratio[{kOther, kOther}];
        r = std::max(r, highest);
      }
    }
  }
  const auto pairs = [](const std::map<LabelValues, double>& m) {
    return std::vector<std::pair<LabelValues, double>>(m.begin(), m.end());
  };
  port_range_size_.assign(range_size);
  sockets_.assign(pairs(states));
  time_wait_.assign(pairs(tw));
  ports_in_use_.assign(pairs(in_use));
  utilization_.assign(pairs(ratio));

  if (const auto& fds = snapshot.file_descriptors) {
    file_descriptors_.assign({{{}, static_cast<double>(fds->allocated)}});
    file_descriptors_limit_.assign({{{}, static_cast<double>(fds->maximum)}});
  } else {
    file_descriptors_.clear();
    file_descriptors_limit_.clear();
  }

  if (const auto& ct = snapshot.conntrack) {
    conntrack_entries_.assign({{{}, static_cast<double>(ct->entries)}});
    conntrack_limit_.assign({{{}, static_cast<double>(ct->limit)}});
  } else {
    conntrack_entries_.clear();
    conntrack_limit_.clear();
  }

  update_tcp_events(namespaces);
  update_quality(namespaces);
}

}  // namespace connwatch::kernel
