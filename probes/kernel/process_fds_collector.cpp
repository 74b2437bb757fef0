// Source "process_fds": the agent's own open descriptors against RLIMIT_NOFILE (EMFILE).
#include "probes/kernel/collectors.h"
#include "probes/kernel/file_descriptor_usage.h"

namespace connwatch::kernel {

std::error_code collect_process_fds(const KernelOptions& options, KernelSnapshot& snapshot) {
  ProcessFileDescriptors fds;
  if (auto ec = read_process_file_descriptors(options.proc_root, fds)) return ec;
  snapshot.process_file_descriptors = fds;
  return {};
}

}  // namespace connwatch::kernel
