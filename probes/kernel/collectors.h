// The kernel sources, one function per source file (node_exporter style): each reads its source
// (read_*), parses it (parse_*) and fills its part of the snapshot. KernelCollector runs them in
// the order of kernel_collectors(); adding a source is one file plus one line in that table.
#pragma once

#include <span>
#include <string_view>
#include <system_error>

#include "probes/kernel/kernel_options.h"
#include "probes/kernel/kernel_snapshot.h"

namespace connwatch::kernel {

using CollectFunction = std::error_code (*)(const KernelOptions&, KernelSnapshot&);

struct CollectorEntry {
  std::string_view name;  // the `collector` label of connwatch_kernel_collector_errors_total
  CollectFunction collect;
  // Reads something each network namespace has its own of (sockets, sysctls, TCP counters): run
  // again inside every other namespace. Otherwise host-wide or the agent's own (fds, conntrack).
  bool per_namespace = false;
};

// The registration table, in run order (sock_diag needs port_range's result).
std::span<const CollectorEntry> kernel_collectors();

std::error_code collect_port_range(const KernelOptions& options, KernelSnapshot& snapshot);
std::error_code collect_sock_diag(const KernelOptions& options, KernelSnapshot& snapshot);
std::error_code collect_file_nr(const KernelOptions& options, KernelSnapshot& snapshot);
std::error_code collect_process_fds(const KernelOptions& options, KernelSnapshot& snapshot);
std::error_code collect_snmp(const KernelOptions& options, KernelSnapshot& snapshot);
std::error_code collect_netstat(const KernelOptions& options, KernelSnapshot& snapshot);
std::error_code collect_conntrack(const KernelOptions& options, KernelSnapshot& snapshot);

}  // namespace connwatch::kernel
