#include "probes/kernel/file_descriptor_usage.h"

#include <dirent.h>
#include <sys/resource.h>

#include <cerrno>
#include <cstring>
#include <limits>
#include <string>

#include "probes/kernel/proc_file.h"

namespace connwatch::kernel {

std::error_code parse_file_nr(std::string_view text, FileDescriptorUsage& out) {
  while (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  if (text.find('\n') != std::string_view::npos) return ProcFileError::kMalformed;
  const auto fields = split_fields(text);
  FileDescriptorUsage usage;
  std::uint64_t unused = 0;
  if (fields.size() != 3 || !parse_decimal(fields[0], usage.allocated) ||
      !parse_decimal(fields[1], unused) || !parse_decimal(fields[2], usage.maximum)) {
    return ProcFileError::kMalformed;
  }
  out = usage;
  return {};
}

std::error_code read_file_nr(const std::filesystem::path& proc_root, FileDescriptorUsage& out) {
  std::string text;
  if (auto ec = read_proc_file(proc_root / "sys/fs/file-nr", text)) return ec;
  return parse_file_nr(text, out);
}

std::error_code read_process_file_descriptors(const std::filesystem::path& proc_root,
                                              ProcessFileDescriptors& out) {
  const auto dir_path = proc_root / "self/fd";
  DIR* dir = ::opendir(dir_path.c_str());
  if (dir == nullptr) return {errno, std::system_category()};
  // The directory stream holds an fd of its own while we count; it is not the agent's.
  const std::string own = std::to_string(::dirfd(dir));
  std::uint64_t count = 0;
  while (const dirent* entry = ::readdir(dir)) {
    if (std::strcmp(entry->d_name, ".") == 0 || std::strcmp(entry->d_name, "..") == 0 ||
        own == entry->d_name) {
      continue;
    }
    ++count;
  }
  ::closedir(dir);

  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return {errno, std::system_category()};
  out.open = count;
  out.limit = limit.rlim_cur == RLIM_INFINITY ? std::numeric_limits<std::uint64_t>::max()
                                              : static_cast<std::uint64_t>(limit.rlim_cur);
  return {};
}

}  // namespace connwatch::kernel
