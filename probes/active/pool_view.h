// What a target's pool looks like now: a plain copy for snapshots and diagnose.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "probes/active/close_reason.h"
#include "probes/active/connection_state.h"

namespace connwatch::active {

// What the pool looks like now, for snapshots and diagnose.
struct PoolView {
  struct Open {
    std::uint64_t id = 0;
    ConnectionState state = ConnectionState::kConnecting;
    std::string peer;
    double age_seconds = 0;
    std::optional<double> idle_seconds;  // idle ones
    std::uint64_t requests = 0;
  };
  struct Closed {
    std::uint64_t id = 0;
    CloseReason reason = CloseReason::kError;
    std::string peer;
    double age_seconds = 0;
    std::optional<double> idle_seconds;  // closed while idle: how long it had been
    std::uint64_t requests = 0;
    std::chrono::system_clock::time_point at;
  };
  int connecting = 0;
  int idle = 0;
  int busy = 0;
  std::chrono::milliseconds idle_timeout{0};  // in force for the last released connection
  std::optional<std::chrono::seconds> server_keep_alive;
  std::vector<Open> open;
  std::vector<Closed> recent_closes;  // newest last, at most kClosedHistory
};

}  // namespace connwatch::active
