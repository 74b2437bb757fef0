#include "agent/diagnose/time_wait_tracker.h"

#include <algorithm>

namespace connwatch::agent::diagnose {

namespace {

// A timer that ends more than this later than the one seen before belongs to a new TIME_WAIT on
// the same 4-tuple; a socket gone more than this before its timer ran out left early. Dumps report
// the time left in milliseconds, and samples are taken a few milliseconds after their time stamp.
constexpr std::int64_t kSlackMs = 500;

}  // namespace

void TimeWaitTracker::begin(Clock::time_point at) {
  if (samples_ == 0) first_ = at;
  at_ = at;
  ++samples_;
  for (auto& [destination, c] : counts_) c.now = 0;
}

void TimeWaitTracker::add(const kernel::SocketRecord& socket) {
  const std::int64_t now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(at_ - first_).count();
  const std::int64_t expires_at = now_ms + socket.expires_ms;
  TimeWaitCounts& c = counts_[socket.remote];
  ++c.now;
  c.peak = std::max(c.peak, c.now);
  const Key key{socket.local, socket.remote};
  auto it = sockets_.find(key);
  if (it == sockets_.end()) {
    sockets_.emplace(key, Seen{expires_at, samples_});
    if (samples_ > 1) ++c.entries;
    return;
  }
  if (expires_at > it->second.expires_at_ms + kSlackMs) {
    // Reused between two samples, and in TIME_WAIT again.
    ++c.entries;
    ++c.early_exits;
  }
  it->second = Seen{expires_at, samples_};
}

void TimeWaitTracker::end() {
  const std::int64_t now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(at_ - first_).count();
  for (auto it = sockets_.begin(); it != sockets_.end();) {
    if (it->second.generation == samples_) {
      ++it;
      continue;
    }
    if (it->second.expires_at_ms > now_ms + kSlackMs) ++counts_[it->first.remote].early_exits;
    it = sockets_.erase(it);
  }
}

double TimeWaitTracker::seconds() const {
  return std::chrono::duration<double>(at_ - first_).count();
}

}  // namespace connwatch::agent::diagnose
