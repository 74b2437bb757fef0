// Everything one kernel collection found, as plain data: what `agent --diagnose` reads and what
// KernelMetrics exports. A source that failed leaves its part empty and is listed in `failures`.
#pragma once

#include <chrono>
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

  bool failed(std::string_view collector) const {
    for (const auto& f : failures) {
      if (f.collector == collector) return true;
    }
    return false;
  }
};

}  // namespace connwatch::kernel
