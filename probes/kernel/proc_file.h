// Reading small procfs files, and the errors their pure parsers report.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace connwatch::kernel {

enum class ProcFileError {
  kMalformed = 1,  // not the format the kernel writes
  kMissingField,   // a field this collector needs is absent
  kTooLarge,       // larger than any kernel writes: not read further
};

const std::error_category& proc_file_category();
std::error_code make_error_code(ProcFileError e);

// Reads a whole procfs file (their stat size is 0, so it reads until EOF), at most `max_bytes`.
// Errors are the errno of open/read (ENOENT when the file does not exist) or kTooLarge.
std::error_code read_proc_file(const std::filesystem::path& path, std::string& out,
                               std::size_t max_bytes = std::size_t{1} << 20);

// Helpers the pure parsers share. A whole-field decimal number (no sign, no spaces, no overflow).
bool parse_decimal(std::string_view text, std::uint64_t& out);
// Whitespace-separated fields of one line.
std::vector<std::string_view> split_fields(std::string_view line);
// The value of field `name` in the text of /proc/PID/status ("Tgid:\t1234" -> "1234"; fs/proc/
// array.c writes "Name:\tvalue" a line each), spaces and tabs around it trimmed, or nullopt when
// no line starts with "name:". A view into `status`.
std::optional<std::string_view> status_field(std::string_view status, std::string_view name);

}  // namespace connwatch::kernel

template <>
struct std::is_error_code_enum<connwatch::kernel::ProcFileError> : std::true_type {};
