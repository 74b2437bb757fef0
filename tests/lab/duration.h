// Prometheus-style durations for the lab tools' flags: "250ms", "1s", "2m", "1h".
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace connwatch::lab {

// A whole number followed by one unit (ms, s, m, h). Anything else, or a value that would
// overflow, is nullopt: the tools reject a flag rather than guess.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

}  // namespace connwatch::lab
