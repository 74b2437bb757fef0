#include "config/units.h"

#include <array>
#include <charconv>
#include <limits>

namespace connwatch::config {
namespace {

struct Unit {
  std::string_view suffix;
  std::int64_t millis;
};

// Largest first: the order a duration must spell them in, and the order they are formatted in.
constexpr std::array<Unit, 7> kDurationUnits{{{"y", 365LL * 24 * 3600 * 1000},
                                              {"w", 7LL * 24 * 3600 * 1000},
                                              {"d", 24LL * 3600 * 1000},
                                              {"h", 3600LL * 1000},
                                              {"m", 60LL * 1000},
                                              {"s", 1000},
                                              {"ms", 1}}};

// The unit at the front of `rest`, as an index into kDurationUnits; "ms" wins over "m".
std::optional<std::size_t> unit_at(std::string_view rest) {
  if (rest.starts_with("ms")) return kDurationUnits.size() - 1;
  for (std::size_t i = 0; i + 1 < kDurationUnits.size(); ++i) {
    if (rest.starts_with(kDurationUnits[i].suffix)) return i;
  }
  return std::nullopt;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

std::optional<Duration> parse_duration(std::string_view text) {
  if (text == "0") return Duration::zero();
  if (text.empty()) return std::nullopt;
  std::int64_t total = 0;
  int last_index = -1;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t digits_end = pos;
    while (digits_end < text.size() && is_digit(text[digits_end])) ++digits_end;
    if (digits_end == pos) return std::nullopt;
    std::int64_t value = 0;
    const auto [ptr, ec] = std::from_chars(text.data() + pos, text.data() + digits_end, value);
    if (ec != std::errc{} || ptr != text.data() + digits_end) return std::nullopt;
    pos = digits_end;
    const auto index = unit_at(text.substr(pos));
    if (!index || static_cast<int>(*index) <= last_index) return std::nullopt;
    last_index = static_cast<int>(*index);
    const Unit& unit = kDurationUnits[*index];
    pos += unit.suffix.size();
    if (value > (std::numeric_limits<std::int64_t>::max() - total) / unit.millis) {
      return std::nullopt;
    }
    total += value * unit.millis;
  }
  return Duration{total};
}

std::string format_duration(Duration d) {
  std::int64_t ms = d.count();
  if (ms == 0) return "0s";
  std::string out;
  if (ms < 0) {
    out = "-";
    ms = -ms;
  }
  for (const auto& unit : kDurationUnits) {
    if (ms >= unit.millis) {
      out += std::to_string(ms / unit.millis);
      out += unit.suffix;
      ms %= unit.millis;
    }
  }
  return out;
}

std::optional<std::uint64_t> parse_size(std::string_view text) {
  std::size_t digits_end = 0;
  while (digits_end < text.size() && is_digit(text[digits_end])) ++digits_end;
  if (digits_end == 0) return std::nullopt;
  std::uint64_t value = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + digits_end, value);
  if (ec != std::errc{} || ptr != text.data() + digits_end) return std::nullopt;
  const std::string_view unit = text.substr(digits_end);
  std::uint64_t multiplier = 0;
  if (unit.empty() || unit == "B") {
    multiplier = 1;
  } else if (unit == "KiB") {
    multiplier = 1ULL << 10;
  } else if (unit == "MiB") {
    multiplier = 1ULL << 20;
  } else if (unit == "GiB") {
    multiplier = 1ULL << 30;
  } else if (unit == "kB" || unit == "KB") {
    multiplier = 1000;
  } else if (unit == "MB") {
    multiplier = 1000ULL * 1000;
  } else if (unit == "GB") {
    multiplier = 1000ULL * 1000 * 1000;
  } else {
    return std::nullopt;
  }
  if (value > std::numeric_limits<std::uint64_t>::max() / multiplier) return std::nullopt;
  return value * multiplier;
}

}  // namespace connwatch::config
