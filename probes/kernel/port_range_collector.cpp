// Source "port_range": net.ipv4.ip_local_port_range and ip_local_reserved_ports.
#include "probes/kernel/collectors.h"
#include "probes/kernel/ephemeral_port_range.h"

namespace connwatch::kernel {

std::error_code collect_port_range(const KernelOptions& options, KernelSnapshot& snapshot) {
  EphemeralPortRange range;
  if (auto ec = read_ephemeral_port_range(options.proc_root, range)) return ec;
  snapshot.port_range = range;
  return {};
}

}  // namespace connwatch::kernel
