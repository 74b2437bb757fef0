#include "probes/kernel/kernel_collector.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <thread>

#include "probes/kernel/collectors.h"
#include "probes/kernel/kernel_metrics.h"

namespace connwatch::kernel {
namespace {

// The registration table: one line per source, in run order.
constexpr std::array<CollectorEntry, 7> kCollectors = {{
    {"port_range", &collect_port_range, true},
    {"sock_diag", &collect_sock_diag, true},
    {"file_nr", &collect_file_nr, false},
    {"process_fds", &collect_process_fds, false},
    {"snmp", &collect_snmp, true},
    {"netstat", &collect_netstat, true},
    {"conntrack", &collect_conntrack, false},
}};

std::error_code run_collector(const CollectorEntry& entry, const KernelOptions& options,
                              KernelSnapshot& snapshot) {
  try {
    return entry.collect(options, snapshot);
  } catch (const std::exception&) {
    // Collectors do not throw by design; an allocation failure must still not kill the poller.
    return std::make_error_code(std::errc::not_enough_memory);
  }
}

}  // namespace

std::span<const CollectorEntry> kernel_collectors() { return kCollectors; }

KernelCollector::KernelCollector(KernelOptions options, KernelMetrics* metrics)
    : options_(std::move(options)), metrics_(metrics), failing_(kCollectors.size(), false) {}

void KernelCollector::collect_sources(const KernelOptions& options, bool per_namespace_only,
                                      KernelSnapshot& snapshot) {
  for (std::size_t i = 0; i < kCollectors.size(); ++i) {
    const CollectorEntry& entry = kCollectors[i];
    if (per_namespace_only && !entry.per_namespace) continue;
    const std::error_code ec = run_collector(entry, options, snapshot);
    if (per_namespace_only) {
      if (ec) snapshot.failures.push_back({std::string(entry.name), ec});
      continue;  // other namespaces' failures are reported by collect_once, per namespace
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
}

NamespaceSnapshot KernelCollector::collect_namespace(const NetworkNamespace& ns) {
  // Runs on the worker thread of collect_other_namespaces(), never on the caller's.
  NamespaceSnapshot out;
  out.inode = ns.inode;
  out.name = ns.name;
  if (const std::error_code entered = enter_network_namespace(ns)) {
    out.failures.push_back({"setns", entered});
    return out;
  }
  auto& history = histories_[ns.inode];
  if (!history) history = std::make_unique<SocketCounterHistory>();
  KernelOptions options = options_;
  options.proc_root = "/proc";  // the live namespace, whatever a test pointed the agent's at
  options.proc_net = "/proc/thread-self/net";
  options.socket_history = history.get();
  KernelSnapshot scratch;
  collect_sources(options, true, scratch);
  out.port_range = scratch.port_range;
  out.sockets = std::move(scratch.sockets);
  out.tcp_events = scratch.tcp_events;
  out.failures = std::move(scratch.failures);
  return out;
}

std::vector<NamespaceSnapshot> KernelCollector::collect_other_namespaces(
    const std::vector<NetworkNamespace>& namespaces) {
  std::vector<NamespaceSnapshot> out;
  if (namespaces.empty()) return out;
  // One thread of its own per collection: setns moves only the calling thread, so this one goes
  // from namespace to namespace and ends with the collection; no thread of the agent ever leaves
  // its own. (A thread per namespace cost a thread start and a join wake-up each: on a loaded
  // machine several milliseconds per namespace.)
  std::thread worker([&] {
    for (const auto& ns : namespaces) out.push_back(collect_namespace(ns));
  });
  worker.join();
  return out;
}

void KernelCollector::rank_namespaces(KernelSnapshot& snapshot) const {
  // The agent's own first and always with its series; then the most sockets; ties by name.
  auto& all = snapshot.namespaces;
  std::stable_sort(all.begin(), all.end(),
                   [](const NamespaceSnapshot& a, const NamespaceSnapshot& b) {
                     if (a.self != b.self) return a.self;
                     if (a.socket_count() != b.socket_count())
                       return a.socket_count() > b.socket_count();
                     return a.name < b.name;
                   });
  std::size_t with_series = 0;
  for (auto& ns : all) {
    ns.own_series = ns.self || with_series < options_.max_namespaces;
    if (ns.own_series && !ns.self) ++with_series;
  }
}

KernelSnapshot KernelCollector::collect_once() {
  KernelSnapshot snapshot;
  snapshot.taken_at = std::chrono::system_clock::now();
  const auto start = std::chrono::steady_clock::now();

  const NamespaceDiscovery found = directory_.discover(options_.all_namespaces);
  std::uint64_t self_inode = 0;
  std::string self_name = "self";
  for (const auto& ns : found.namespaces) {
    if (ns.self) {
      self_inode = ns.inode;
      self_name = ns.name;
    }
  }

  auto& self_history = histories_[self_inode];
  if (!self_history) self_history = std::make_unique<SocketCounterHistory>();
  KernelOptions own = options_;
  own.socket_history = self_history.get();
  collect_sources(own, false, snapshot);

  NamespaceSnapshot self;
  self.inode = self_inode;
  self.name = self_name;
  self.self = true;
  self.port_range = snapshot.port_range;
  self.sockets = snapshot.sockets;
  self.tcp_events = snapshot.tcp_events;
  for (const auto& f : snapshot.failures) {
    for (const auto& entry : kCollectors) {
      if (entry.per_namespace && entry.name == f.collector) self.failures.push_back(f);
    }
  }
  snapshot.namespaces.push_back(std::move(self));

  std::set<std::uint64_t> present = {self_inode};
  std::vector<NetworkNamespace> others;
  for (const auto& ns : found.namespaces) {
    present.insert(ns.inode);
    if (!ns.self) others.push_back(ns);
  }
  for (NamespaceSnapshot& read : collect_other_namespaces(others)) {
    const std::uint64_t inode = read.inode;
    if (!read.failures.empty() && read.failures.front().collector == "setns") {
      ++snapshot.unreadable_namespaces;
      if (logged_unreadable_.insert(inode).second) {
        spdlog::warn(
            "network namespace {} (inode {}) cannot be read: {} (logged once; needs "
            "CAP_SYS_ADMIN, and CAP_SYS_PTRACE for other users' processes)",
            read.name, inode, read.failures.front().error.message());
      }
      continue;
    }
    snapshot.namespaces.push_back(std::move(read));
  }
  // A vanished namespace takes its per-socket history and its log-once mark with it.
  std::erase_if(histories_, [&](const auto& h) { return present.count(h.first) == 0; });
  std::erase_if(logged_unreadable_, [&](std::uint64_t inode) { return present.count(inode) == 0; });

  rank_namespaces(snapshot);
  snapshot.duration = std::chrono::steady_clock::now() - start;
  if (metrics_ != nullptr) metrics_->update(snapshot);
  return snapshot;
}

}  // namespace connwatch::kernel
