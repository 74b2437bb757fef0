// Source "file_nr": system-wide file handles, /proc/sys/fs/file-nr.
#include "probes/kernel/collectors.h"
#include "probes/kernel/file_descriptor_usage.h"

namespace connwatch::kernel {

std::error_code collect_file_nr(const KernelOptions& options, KernelSnapshot& snapshot) {
  FileDescriptorUsage usage;
  if (auto ec = read_file_nr(options.proc_root, usage)) return ec;
  snapshot.file_descriptors = usage;
  return {};
}

}  // namespace connwatch::kernel
