// Numbers as a person reads them in findings: "2,913", "1.0 s", "87%", and durations in the
// config's own syntax ("800ms", "30s") so a recommendation can be pasted into agent.toml.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace connwatch::agent::diagnose {

std::string count(std::uint64_t n);                        // 2913 -> "2,913"
std::string seconds(double s);                             // 1.04 -> "1.0 s", 30 -> "30 s"
std::string percent(double ratio);                         // 0.873 -> "87%"
std::string config_duration(std::chrono::milliseconds d);  // 800ms -> "800ms", 30000 -> "30s"
std::string plural(std::uint64_t n, const std::string& one, const std::string& many);

}  // namespace connwatch::agent::diagnose
