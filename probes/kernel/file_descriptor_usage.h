// File handles in use against their limits. The exported pair (connwatch_file_descriptors and
// _limit) is system-wide, /proc/sys/fs/file-nr: ENFILE hits every process on the host when it
// fills (TCP-NOTES §3). The agent's own numbers (open fds vs RLIMIT_NOFILE, EMFILE) are in the
// snapshot for --diagnose but not exported: SPEC §4 names no family for them.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string_view>
#include <system_error>

namespace connwatch::kernel {

struct FileDescriptorUsage {
  std::uint64_t allocated =
      0;                      // file-nr field 1: allocated handles (field 2 is always 0 since 2.6)
  std::uint64_t maximum = 0;  // file-nr field 3 = fs.file-max; may be LONG_MAX
};

// This process: entries in /proc/self/fd against the soft RLIMIT_NOFILE.
struct ProcessFileDescriptors {
  std::uint64_t open = 0;
  std::uint64_t limit = 0;  // RLIM_INFINITY is reported as UINT64_MAX
};

// "1024\t0\t9223372036854775807\n"
std::error_code parse_file_nr(std::string_view text, FileDescriptorUsage& out);
std::error_code read_file_nr(const std::filesystem::path& proc_root, FileDescriptorUsage& out);

std::error_code read_process_file_descriptors(const std::filesystem::path& proc_root,
                                              ProcessFileDescriptors& out);

}  // namespace connwatch::kernel
