#include "agent/diagnose/format.h"

#include <cmath>
#include <cstdio>

namespace connwatch::agent::diagnose {

std::string count(std::uint64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  out.reserve(digits.size() + digits.size() / 3);
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i != 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

std::string seconds(double s) {
  char buffer[32];
  if (s >= 100 || (s >= 10 && std::fabs(s - std::round(s)) < 0.05)) {
    std::snprintf(buffer, sizeof buffer, "%.0f s", s);
  } else {
    std::snprintf(buffer, sizeof buffer, "%.1f s", s);
  }
  return buffer;
}

std::string percent(double ratio) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.0f%%", std::floor(ratio * 100));
  return buffer;
}

std::string config_duration(std::chrono::milliseconds d) {
  const auto ms = d.count();
  if (ms % 3'600'000 == 0 && ms != 0) return std::to_string(ms / 3'600'000) + "h";
  if (ms % 60'000 == 0 && ms != 0) return std::to_string(ms / 60'000) + "m";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

std::string plural(std::uint64_t n, const std::string& one, const std::string& many) {
  return count(n) + " " + (n == 1 ? one : many);
}

}  // namespace connwatch::agent::diagnose
