#include "probes/kernel/proc_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>

namespace connwatch::kernel {
namespace {

class ProcFileCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "procfs"; }
  std::string message(int value) const override {
    switch (static_cast<ProcFileError>(value)) {
      case ProcFileError::kMalformed:
        return "malformed procfs file";
      case ProcFileError::kMissingField:
        return "procfs file lacks a required field";
      case ProcFileError::kTooLarge:
        return "procfs file larger than expected";
    }
    return "unknown procfs error " + std::to_string(value);
  }
};

}  // namespace

const std::error_category& proc_file_category() {
  static const ProcFileCategory category;
  return category;
}

std::error_code make_error_code(ProcFileError e) {
  return {static_cast<int>(e), proc_file_category()};
}

std::error_code read_proc_file(const std::filesystem::path& path, std::string& out,
                               std::size_t max_bytes) {
  out.clear();
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {errno, std::system_category()};
  std::error_code error;
  char chunk[4096];
  for (;;) {
    const ssize_t n = ::read(fd, chunk, sizeof(chunk));
    if (n < 0) {
      if (errno == EINTR) continue;
      error = {errno, std::system_category()};
      break;
    }
    if (n == 0) break;
    if (out.size() + static_cast<std::size_t>(n) > max_bytes) {
      error = ProcFileError::kTooLarge;
      break;
    }
    out.append(chunk, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return error;
}

bool parse_decimal(std::string_view text, std::uint64_t& out) {
  if (text.empty()) return false;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

std::vector<std::string_view> split_fields(std::string_view line) {
  std::vector<std::string_view> fields;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    const std::size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    if (i > start) fields.push_back(line.substr(start, i - start));
  }
  return fields;
}

std::optional<std::string_view> status_field(std::string_view status, std::string_view name) {
  for (std::size_t begin = 0; begin < status.size();) {
    std::size_t end = status.find('\n', begin);
    if (end == std::string_view::npos) end = status.size();
    std::string_view line = status.substr(begin, end - begin);
    begin = end + 1;
    if (line.size() <= name.size() || line.substr(0, name.size()) != name ||
        line[name.size()] != ':') {
      continue;
    }
    line.remove_prefix(name.size() + 1);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
    return line;
  }
  return std::nullopt;
}

}  // namespace connwatch::kernel
