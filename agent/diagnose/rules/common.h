// What several rules read the same way: a target's attempts by outcome, a kernel counter's growth
// over the run.
#pragma once

#include <cmath>
#include <cstdint>
#include <numeric>
#include <optional>

#include "agent/diagnose/observations.h"
#include "probes/active/outcome.h"
#include "probes/kernel/tcp_event_counter.h"

namespace connwatch::agent::diagnose {

inline std::uint64_t attempts(const TargetObservation& t, active::Outcome outcome) {
  return t.probes.counts.attempts[active::index_of(outcome)];
}

inline std::uint64_t attempts(const TargetObservation& t) {
  const auto& a = t.probes.counts.attempts;
  return std::accumulate(a.begin(), a.end(), std::uint64_t{0});
}

// How much a kernel counter grew between the start and end snapshots; nullopt when either side
// could not read it. A counter that went down (namespace recreated) counts as no growth.
inline std::optional<std::uint64_t> growth(const Observations& o, kernel::TcpEventCounter counter) {
  const auto& start = o.kernel_start.tcp_events[kernel::index_of(counter)];
  const auto& end = o.kernel_end.tcp_events[kernel::index_of(counter)];
  if (!start || !end) return std::nullopt;
  return *end >= *start ? *end - *start : 0;
}

// Rounded to 0.01: evidence for a person, not a measurement series.
inline double per_second(std::uint64_t n, double duration_seconds) {
  if (duration_seconds <= 0) return 0;
  return std::round(static_cast<double>(n) / duration_seconds * 100) / 100;
}

// "10.0.0.5:443" -> "10.0.0.5"; "[2001:db8::1]:443" -> "2001:db8::1".
inline std::string address_of(const std::string& endpoint) {
  if (!endpoint.empty() && endpoint.front() == '[') {
    const auto close = endpoint.find(']');
    return close == std::string::npos ? endpoint : endpoint.substr(1, close - 1);
  }
  const auto colon = endpoint.rfind(':');
  return colon == std::string::npos ? endpoint : endpoint.substr(0, colon);
}

}  // namespace connwatch::agent::diagnose
