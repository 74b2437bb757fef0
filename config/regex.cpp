#include "config/regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

namespace connwatch::config {
namespace {

std::string message_of(int code) {
  PCRE2_UCHAR buffer[256];
  const int n = pcre2_get_error_message(code, buffer, sizeof buffer);
  return n < 0 ? "error " + std::to_string(code)
               : std::string(reinterpret_cast<const char*>(buffer), static_cast<std::size_t>(n));
}

}  // namespace

struct Regex::Code {
  pcre2_code* code = nullptr;
  ~Code() { pcre2_code_free(code); }
};

Regex::Regex(std::string pattern, std::shared_ptr<const Code> code)
    : pattern_(std::move(pattern)), code_(std::move(code)) {}

std::optional<Regex> Regex::compile(std::string_view pattern, CompileError& error) {
  int code = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* compiled = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                       0, &code, &offset, nullptr);
  if (compiled == nullptr) {
    error.message = message_of(code);
    error.offset = offset;
    return std::nullopt;
  }
  auto owned = std::make_shared<Code>();
  owned->code = compiled;
  return Regex(std::string(pattern), std::move(owned));
}

bool Regex::search(std::string_view subject, std::string& error) const {
  error.clear();
  pcre2_match_data* data = pcre2_match_data_create_from_pattern(code_->code, nullptr);
  if (data == nullptr) {
    error = "out of memory";
    return false;
  }
  const int rc = pcre2_match(code_->code, reinterpret_cast<PCRE2_SPTR>(subject.data()),
                             subject.size(), 0, 0, data, nullptr);
  pcre2_match_data_free(data);
  if (rc >= 0) return true;
  if (rc != PCRE2_ERROR_NOMATCH) error = message_of(rc);
  return false;
}

}  // namespace connwatch::config
