// Source "conntrack": nf_conntrack_count / nf_conntrack_max, where nf_conntrack is loaded.
#include "probes/kernel/collectors.h"
#include "probes/kernel/conntrack_usage.h"

namespace connwatch::kernel {

std::error_code collect_conntrack(const KernelOptions& options, KernelSnapshot& snapshot) {
  return read_conntrack_usage(options.proc_root, snapshot.conntrack);
}

}  // namespace connwatch::kernel
