// Prometheus-style durations ("250ms", "5s", "1h30m") and byte sizes ("32MiB").
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace connwatch::config {

using Duration = std::chrono::milliseconds;

// Units y, w, d, h, m, s, ms, each at most once and largest first, as Prometheus accepts them.
// "0" is zero. Returns nullopt on anything else, including overflow.
std::optional<Duration> parse_duration(std::string_view text);

// The shortest Prometheus-style spelling: 90000ms -> "1m30s", 0 -> "0s".
std::string format_duration(Duration d);

// A byte count with an optional unit: B, KiB, MiB, GiB (1024-based) or kB, MB, GB (1000-based).
std::optional<std::uint64_t> parse_size(std::string_view text);

}  // namespace connwatch::config
