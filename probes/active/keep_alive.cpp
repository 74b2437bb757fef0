#include "probes/active/keep_alive.h"

#include <algorithm>
#include <cstdint>

namespace connwatch::active {
namespace {

constexpr std::int64_t kMaxSeconds = 24 * 3600;

bool is_space(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::optional<std::int64_t> seconds_value(std::string_view v) {
  v = trim(v);
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
  if (v.empty()) return std::nullopt;
  std::int64_t n = 0;
  for (const char c : v) {
    if (c < '0' || c > '9') return std::nullopt;
    n = std::min(kMaxSeconds, n * 10 + (c - '0'));
  }
  return n;
}

}  // namespace

std::optional<std::chrono::seconds> parse_keep_alive_timeout(std::string_view value) {
  while (!value.empty()) {
    const std::size_t comma = value.find(',');
    const std::string_view param = trim(value.substr(0, comma));
    value = comma == std::string_view::npos ? std::string_view{} : value.substr(comma + 1);
    const std::size_t eq = param.find('=');
    if (eq == std::string_view::npos) continue;
    if (!iequals(trim(param.substr(0, eq)), "timeout")) continue;
    if (const auto n = seconds_value(param.substr(eq + 1))) return std::chrono::seconds(*n);
    return std::nullopt;  // a timeout parameter that is not a number: ignore the header
  }
  return std::nullopt;
}

std::chrono::milliseconds cap_idle_timeout(std::chrono::milliseconds configured,
                                           std::optional<std::chrono::seconds> server_timeout) {
  if (!server_timeout) return configured;
  const std::chrono::milliseconds cap =
      std::max(std::chrono::milliseconds(0),
               std::chrono::milliseconds(*server_timeout) - std::chrono::milliseconds(1000));
  return std::min(configured, cap);
}

}  // namespace connwatch::active
