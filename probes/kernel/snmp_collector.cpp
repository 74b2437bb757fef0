// Source "snmp": Tcp counters of /proc/net/snmp (OutRsts, EstabResets, AttemptFails).
#include <string>

#include "probes/kernel/collectors.h"
#include "probes/kernel/proc_file.h"
#include "probes/kernel/tcp_event_counter.h"

namespace connwatch::kernel {

std::error_code collect_snmp(const KernelOptions& options, KernelSnapshot& snapshot) {
  std::string text;
  if (auto ec = read_proc_file(options.net_path("snmp"), text)) return ec;
  return parse_proc_net_snmp(text, snapshot.tcp_events);
}

}  // namespace connwatch::kernel
