#include "probes/kernel/socket_counter_history.h"

#include <algorithm>

namespace connwatch::kernel {

SocketCounterHistory::SocketCounterHistory(std::size_t max_sockets) : max_sockets_(max_sockets) {}

SocketCounterHistory::Delta SocketCounterHistory::observe(std::uint64_t cookie,
                                                          std::uint32_t total_retrans,
                                                          std::uint32_t segs_out) {
  current_max_cookie_ = std::max(current_max_cookie_, cookie);
  if (current_.size() < max_sockets_) current_.push_back({cookie, total_retrans, segs_out});
  if (!has_baseline_) return {};
  const auto it = std::lower_bound(previous_.begin(), previous_.end(), cookie,
                                   [](const Entry& e, std::uint64_t c) { return e.cookie < c; });
  if (it != previous_.end() && it->cookie == cookie) {
    // Unsigned differences: the kernel's 32-bit counters may wrap between two collections.
    return {static_cast<std::uint32_t>(total_retrans - it->total_retrans),
            static_cast<std::uint32_t>(segs_out - it->segs_out)};
  }
  if (cookie > previous_max_cookie_) return {total_retrans, segs_out};
  return {};
}

void SocketCounterHistory::finish_collection() {
  std::sort(current_.begin(), current_.end(),
            [](const Entry& a, const Entry& b) { return a.cookie < b.cookie; });
  previous_.swap(current_);
  current_.clear();
  // Keep the capacity of one collection, not of the largest ever seen.
  if (current_.capacity() > 2 * previous_.size() + 1024) current_.shrink_to_fit();
  previous_max_cookie_ = std::max(previous_max_cookie_, current_max_cookie_);
  has_baseline_ = true;
}

void SocketCounterHistory::abandon_collection() {
  current_.clear();
  current_max_cookie_ = previous_max_cookie_;
}

}  // namespace connwatch::kernel
