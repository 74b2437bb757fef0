// Counts TIME_WAIT entries per destination from repeated sock_diag samples of the TIME_WAIT
// sockets: a socket (its 4-tuple) not in the previous sample entered TIME_WAIT since, and one whose
// timer jumped back up was reused (tcp_tw_reuse, TWRecycled) and entered TIME_WAIT again. So the
// count is what happened, not the net change of the TIME_WAIT gauge, which reuse and expiry keep
// down. A socket that entered and left between two samples is missed, so the count is a lower
// bound; a TIME_WAIT can only be reused in a later second than its last segment (tcp_twsk_unique),
// so at a 100 ms interval few are.
#pragma once

#include <chrono>
#include <cstdint>
#include <unordered_map>

#include "net/endpoint.h"
#include "probes/kernel/socket_record.h"

namespace connwatch::agent::diagnose {

struct TimeWaitCounts {
  std::uint64_t entries = 0;      // TIME_WAIT sockets that appeared after the first sample
  std::uint64_t early_exits = 0;  // left well before their timer ran out: reused or killed
  std::uint64_t now = 0;          // in the latest sample
  std::uint64_t peak = 0;
};

class TimeWaitTracker {
 public:
  using Clock = std::chrono::steady_clock;

  // One sample: begin(), add() for every TIME_WAIT socket of the dump, end().
  void begin(Clock::time_point at);
  void add(const kernel::SocketRecord& socket);
  void end();

  // By destination (the remote endpoint); counts start at the first sample.
  const std::unordered_map<kernel::Endpoint, TimeWaitCounts>& by_destination() const {
    return counts_;
  }
  // From the first sample to the latest: the span the counts cover.
  double seconds() const;
  std::uint64_t samples() const { return samples_; }

 private:
  struct Key {
    kernel::Endpoint local;
    kernel::Endpoint remote;
    friend bool operator==(const Key&, const Key&) = default;
  };
  struct KeyHash {
    std::size_t operator()(const Key& k) const noexcept {
      return std::hash<kernel::Endpoint>{}(k.local) * 131U ^
             std::hash<kernel::Endpoint>{}(k.remote);
    }
  };
  struct Seen {
    std::int64_t expires_at_ms = 0;  // on the tracker's clock: sample time + time left
    std::uint64_t generation = 0;    // the sample that saw it last
  };

  std::unordered_map<Key, Seen, KeyHash> sockets_;
  std::unordered_map<kernel::Endpoint, TimeWaitCounts> counts_;
  Clock::time_point first_{};
  Clock::time_point at_{};
  std::uint64_t samples_ = 0;
};

}  // namespace connwatch::agent::diagnose
