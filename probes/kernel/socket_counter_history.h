// Per-socket tcp_info counters (tcpi_total_retrans, tcpi_segs_out) remembered from one collection
// to the next, keyed by the socket cookie, so a collection adds what each socket retransmitted and
// sent since the previous one (SPEC §4 connwatch_destination_*_segments_total). A socket that
// closes between two collections takes its last interval with it: the sums are a lower bound.
//
// Which sockets are new: cookies come from one increasing counter and are given out at a socket's
// first dump, so a cookie above the previous collection's highest belongs to a socket born since;
// its whole count is new. A socket not remembered (over the bound, or the first collection, which
// only sets the baseline) adds nothing: better to miss a little than to count a life twice.
//
// Memory: 16 bytes per socket, twice (previous and current), at most kMaxSockets each: 8 MiB.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace connwatch::kernel {

class SocketCounterHistory {
 public:
  static constexpr std::size_t kMaxSockets = 262144;

  struct Delta {
    std::uint64_t retransmitted = 0;
    std::uint64_t sent = 0;
    bool operator==(const Delta&) const = default;
  };

  explicit SocketCounterHistory(std::size_t max_sockets = kMaxSockets);

  // During a dump: what this socket added since the previous collection; remembers its values.
  Delta observe(std::uint64_t cookie, std::uint32_t total_retrans, std::uint32_t segs_out);
  // After a complete dump: this collection becomes the baseline of the next.
  void finish_collection();
  // After a failed dump: forget this collection's partial state, keep the previous baseline.
  void abandon_collection();

  std::size_t remembered() const { return previous_.size(); }

 private:
  struct Entry {
    std::uint64_t cookie;
    std::uint32_t total_retrans;
    std::uint32_t segs_out;
  };
  static_assert(sizeof(Entry) == 16);

  std::size_t max_sockets_;
  std::vector<Entry> previous_;  // sorted by cookie
  std::vector<Entry> current_;   // in dump order until finish_collection()
  std::uint64_t previous_max_cookie_ = 0;
  std::uint64_t current_max_cookie_ = 0;
  bool has_baseline_ = false;
};

}  // namespace connwatch::kernel
