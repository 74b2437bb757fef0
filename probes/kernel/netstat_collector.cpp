// Source "netstat": TcpExt counters of /proc/net/netstat (TCPAbortOn*, ListenOverflows, ...).
#include <string>

#include "probes/kernel/collectors.h"
#include "probes/kernel/proc_file.h"
#include "probes/kernel/tcp_event_counter.h"

namespace connwatch::kernel {

std::error_code collect_netstat(const KernelOptions& options, KernelSnapshot& snapshot) {
  std::string text;
  if (auto ec = read_proc_file(options.net_path("netstat"), text)) return ec;
  return parse_proc_net_netstat(text, snapshot.tcp_events);
}

}  // namespace connwatch::kernel
