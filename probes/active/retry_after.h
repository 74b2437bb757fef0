// Parses a Retry-After header value (RFC 9110 §10.2.3): delay-seconds or an HTTP-date; and an
// HTTP-date alone (Last-Modified, RFC 9110 §8.8.2).
// Pure and bounds-checked; fuzzed by tests/probes/active/header_parsers_fuzz.cpp.
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace connwatch::active {

// The delay the server asks for, measured from `now`. HTTP-dates in all three formats recipients
// must accept (RFC 9110 §5.6.7): IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT", the obsolete RFC 850
// "Sunday, 06-Nov-94 08:49:37 GMT" and asctime "Sun Nov  6 08:49:37 1994". A date in the past is
// zero. Surrounding whitespace is allowed; anything else malformed is nullopt. Seconds saturate at
// kMaxRetryAfter.
std::optional<std::chrono::milliseconds> parse_retry_after(
    std::string_view value, std::chrono::system_clock::time_point now);

// An HTTP-date in any of the three formats above, surrounding whitespace allowed; nullopt when
// malformed.
std::optional<std::chrono::system_clock::time_point> parse_http_date(std::string_view value);

inline constexpr std::chrono::seconds kMaxRetryAfter{365LL * 24 * 3600};

}  // namespace connwatch::active
