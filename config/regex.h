#pragma once
// A compiled regular expression for fail_if_body_not_matches (SPEC §3), backed by PCRE2 (Debian
// libpcre2-8): Perl/ECMAScript syntax, close to the RE2 syntax blackbox_exporter's module files
// use. Not std::regex: its recursive matcher overflowed an 8 MiB stack on a 64 KiB body with
// `.*ok`; not Boost.Regex: Debian's build links ICU, three fifths of the OCI image (68.8 MB
// against 19 MB). PCRE2 matches on the heap and stops at its match limit with an error.
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace connwatch::config {

class Regex {
 public:
  // Why a pattern did not compile: PCRE2's message and the offset (bytes) it stopped at.
  struct CompileError {
    std::string message;
    std::size_t offset = 0;
  };

  // Compiles `pattern`; on failure returns nothing and fills `error`.
  static std::optional<Regex> compile(std::string_view pattern, CompileError& error);

  // True when the pattern matches anywhere in `subject` (a search, as blackbox does). A match
  // that hits PCRE2's limits is no match, with the reason in `error`; otherwise `error` is empty.
  bool search(std::string_view subject, std::string& error) const;

  const std::string& pattern() const { return pattern_; }

 private:
  struct Code;
  Regex(std::string pattern, std::shared_ptr<const Code> code);

  std::string pattern_;
  std::shared_ptr<const Code> code_;
};

}  // namespace connwatch::config
