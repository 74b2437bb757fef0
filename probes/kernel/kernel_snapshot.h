// Everything one kernel collection found, as plain data: what `agent --diagnose` reads and what
// KernelMetrics exports. A source that failed leaves its part empty and is listed in `failures`.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "probes/kernel/conntrack_usage.h"
#include "probes/kernel/ephemeral_port_range.h"
#include "probes/kernel/file_descriptor_usage.h"
#include "probes/kernel/socket_table_summary.h"
#include "probes/kernel/tcp_event_counter.h"

namespace connwatch::kernel {

struct CollectorFailure {
  std::string collector;  // the collector's registered name, the `collector` label value
  std::error_code error;
};

// What one network namespace holds (the per-namespace sources: port_range, sock_diag, snmp,
// netstat), for the `netns`-labelled families.
struct NamespaceSnapshot {
  std::uint64_t inode = 0;
  std::string name;        // the `netns` label value (SPEC §4)
  bool self = false;       // the agent's own namespace
  bool own_series = true;  // among the top max_namespaces by socket count; else folded into other
  std::optional<EphemeralPortRange> port_range;
  std::optional<SocketTableSummary> sockets;
  TcpEventCounts tcp_events{};
  std::vector<CollectorFailure> failures;

  std::uint64_t socket_count() const { return sockets ? sockets->sockets : 0; }
};

// The top-level port_range, sockets and tcp_events are the agent's own namespace; `namespaces`
// holds every namespace read, the agent's own first (a copy), with sockets.namespaces = "all".
struct KernelSnapshot {
  std::chrono::system_clock::time_point taken_at;
  std::chrono::nanoseconds duration{0};  // wall time of the whole collection

  std::optional<EphemeralPortRange> port_range;
  std::optional<SocketTableSummary> sockets;
  std::optional<FileDescriptorUsage> file_descriptors;             // system-wide
  std::optional<ProcessFileDescriptors> process_file_descriptors;  // the agent itself
  TcpEventCounts tcp_events{};
  std::optional<ConntrackUsage> conntrack;  // nullopt also when nf_conntrack is not loaded

  std::vector<CollectorFailure> failures;

  std::vector<NamespaceSnapshot> namespaces;
  std::size_t unreadable_namespaces = 0;  // found but not entered (no CAP_SYS_ADMIN, vanished)

  bool failed(std::string_view collector) const {
    for (const auto& f : failures) {
      if (f.collector == collector) return true;
    }
    return false;
  }
};

}  // namespace connwatch::kernel
