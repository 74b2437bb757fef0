// PeerTable: which remote peers get their own `peer` series, bounded at max_peers.
//
// Reset counts per peer are kept in a Space-Saving table (Metwally et al., 2005) of bounded size,
// so a flood of distinct addresses cannot grow memory. A peer whose count passes the smallest
// slot holder's by a margin takes that slot; the displaced peer's series is retired and its later
// resets go to "other". Counters stay monotonic; the label set stays at max_peers + 1.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <unordered_map>
#include <vector>

#include "net/ip_address.h"

namespace connwatch::passive {

// The shared address types (net/), by the names this module used before they were shared.
using net::IpAddress;

class PeerTable {
 public:
  // Where one reset is counted: in slot `slot` (a peer with its own series) or in "other".
  struct Assignment {
    std::optional<std::size_t> slot;
    // Set when this reset made the peer take a slot: the slot's previous holder, if any, lost
    // its series.
    bool promoted = false;
    std::optional<IpAddress> displaced;
  };

  explicit PeerTable(std::size_t max_peers);

  Assignment record(const IpAddress& peer);

  // Changes the number of slots in place (capture.max_peers on a config reload); the counts stay.
  // Growing adds free slots. Shrinking takes slots max_peers.. from their holders, who count in
  // "other" from now on like a displaced peer, and trims the candidates to the new capacity
  // (the smallest unslotted go first, as record() would have dropped them).
  void set_max_peers(std::size_t max_peers);

  std::size_t max_peers() const { return slots_.size(); }
  // The peer holding each slot (nullopt = free), in slot order.
  const std::vector<std::optional<IpAddress>>& slots() const { return slots_; }
  // Resets counted for a peer (an over-estimate by at most the count it inherited).
  std::uint64_t estimated_resets(const IpAddress& peer) const;

 private:
  struct Candidate {
    std::uint64_t count = 0;
    std::uint64_t error = 0;  // count inherited from the evicted minimum (Space-Saving)
    std::optional<std::size_t> slot;
  };

  std::uint64_t guaranteed(const Candidate& candidate) const {
    return candidate.count - candidate.error;
  }

  std::size_t capacity_;
  // Its own hash rather than std::hash<IpAddress>: the one this table had before the address type
  // was shared, so the Space-Saving table iterates (and breaks ties) as it did.
  struct PeerHash {
    std::size_t operator()(const IpAddress& address) const noexcept;
  };
  std::unordered_map<IpAddress, Candidate, PeerHash> candidates_;
  std::vector<std::optional<IpAddress>> slots_;
};

}  // namespace connwatch::passive
