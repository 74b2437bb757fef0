#include "probes/active/retry_after.h"

#include <array>
#include <cstdint>

namespace connwatch::active {
namespace {

using namespace std::chrono;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Exactly `width` digits at `pos`.
std::optional<int> digits(std::string_view s, std::size_t pos, std::size_t width) {
  if (pos + width > s.size()) return std::nullopt;
  int value = 0;
  for (std::size_t i = pos; i < pos + width; ++i) {
    if (!is_digit(s[i])) return std::nullopt;
    value = value * 10 + (s[i] - '0');
  }
  return value;
}

bool literal(std::string_view s, std::size_t pos, std::string_view text) {
  return pos + text.size() <= s.size() && s.substr(pos, text.size()) == text;
}

std::optional<unsigned> month_from(std::string_view s, std::size_t pos) {
  static constexpr std::array<std::string_view, 12> kMonths{
      "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  if (pos + 3 > s.size()) return std::nullopt;
  for (unsigned i = 0; i < kMonths.size(); ++i) {
    if (s.substr(pos, 3) == kMonths[i]) return i + 1;
  }
  return std::nullopt;
}

bool day_name_at(std::string_view s, std::size_t pos, bool long_form, std::size_t& end) {
  static constexpr std::array<std::string_view, 7> kShort{"Mon", "Tue", "Wed", "Thu",
                                                          "Fri", "Sat", "Sun"};
  static constexpr std::array<std::string_view, 7> kLong{
      "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"};
  for (const auto name : long_form ? kLong : kShort) {
    if (literal(s, pos, name)) {
      end = pos + name.size();
      return true;
    }
  }
  return false;
}

// "HH:MM:SS" at pos.
std::optional<seconds> time_of_day(std::string_view s, std::size_t pos) {
  const auto h = digits(s, pos, 2);
  const auto m = digits(s, pos + 3, 2);
  const auto sec = digits(s, pos + 6, 2);
  if (!h || !m || !sec || s[pos + 2] != ':' || s[pos + 5] != ':') return std::nullopt;
  if (*h > 23 || *m > 59 || *sec > 60) return std::nullopt;  // 60: a leap second
  return hours(*h) + minutes(*m) + seconds(*sec);
}

std::optional<system_clock::time_point> make_time(int y, unsigned mon, int d, seconds tod) {
  // system_clock counts nanoseconds in 64 bits: its range ends in April 2262, and converting a
  // later date would overflow (undefined behaviour). No server means such a date.
  if (y >= 2262) return std::nullopt;
  const year_month_day date{year{y}, month{mon}, day{static_cast<unsigned>(d)}};
  if (!date.ok()) return std::nullopt;
  return system_clock::time_point(sys_days(date).time_since_epoch() + tod);
}

// IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" (29 characters).
std::optional<system_clock::time_point> imf_fixdate(std::string_view s) {
  std::size_t p = 0;
  if (s.size() != 29 || !day_name_at(s, 0, false, p) || !literal(s, p, ", ")) return std::nullopt;
  const auto d = digits(s, 5, 2);
  const auto mon = month_from(s, 8);
  const auto y = digits(s, 12, 4);
  const auto tod = time_of_day(s, 17);
  if (!d || !mon || !y || !tod || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' ||
      !literal(s, 25, " GMT")) {
    return std::nullopt;
  }
  return make_time(*y, *mon, *d, *tod);
}

// RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT". Two-digit years below 70 are 20xx (RFC 9110 §5.6.7
// asks for the most recent matching year that is not more than 50 years ahead).
std::optional<system_clock::time_point> rfc850_date(std::string_view s) {
  std::size_t p = 0;
  if (!day_name_at(s, 0, true, p) || !literal(s, p, ", ")) return std::nullopt;
  p += 2;
  if (s.size() != p + 22) return std::nullopt;
  const auto d = digits(s, p, 2);
  const auto mon = month_from(s, p + 3);
  const auto yy = digits(s, p + 7, 2);
  const auto tod = time_of_day(s, p + 10);
  if (!d || !mon || !yy || !tod || s[p + 2] != '-' || s[p + 6] != '-' || s[p + 9] != ' ' ||
      !literal(s, p + 18, " GMT")) {
    return std::nullopt;
  }
  return make_time(*yy < 70 ? 2000 + *yy : 1900 + *yy, *mon, *d, *tod);
}

// asctime: "Sun Nov  6 08:49:37 1994" (the day is space-padded).
std::optional<system_clock::time_point> asctime_date(std::string_view s) {
  std::size_t p = 0;
  if (s.size() != 24 || !day_name_at(s, 0, false, p) || s[3] != ' ') return std::nullopt;
  const auto mon = month_from(s, 4);
  if (!mon || s[7] != ' ') return std::nullopt;
  std::optional<int> d;
  if (s[8] == ' ') {
    d = digits(s, 9, 1);
  } else {
    d = digits(s, 8, 2);
  }
  const auto tod = time_of_day(s, 11);
  const auto y = digits(s, 20, 4);
  if (!d || !tod || !y || s[10] != ' ' || s[19] != ' ') return std::nullopt;
  return make_time(*y, *mon, *d, *tod);
}

}  // namespace

std::optional<system_clock::time_point> parse_http_date(std::string_view value) {
  value = trim(value);
  std::optional<system_clock::time_point> when = imf_fixdate(value);
  if (!when) when = rfc850_date(value);
  if (!when) when = asctime_date(value);
  return when;
}

std::optional<milliseconds> parse_retry_after(std::string_view value,
                                              system_clock::time_point now) {
  value = trim(value);
  if (value.empty()) return std::nullopt;
  if (is_digit(value.front())) {
    std::int64_t secs = 0;
    for (const char c : value) {
      if (!is_digit(c)) return std::nullopt;
      secs = secs * 10 + (c - '0');
      if (secs > kMaxRetryAfter.count()) secs = kMaxRetryAfter.count();  // saturate, no overflow
    }
    return duration_cast<milliseconds>(seconds(secs));
  }
  const std::optional<system_clock::time_point> when = parse_http_date(value);
  if (!when) return std::nullopt;
  if (*when <= now) return milliseconds(0);
  return std::min(duration_cast<milliseconds>(*when - now),
                  duration_cast<milliseconds>(kMaxRetryAfter));
}

}  // namespace connwatch::active
