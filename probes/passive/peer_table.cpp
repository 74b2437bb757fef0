#include "probes/passive/peer_table.h"

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <utility>
#include <vector>

namespace connwatch::passive {
namespace {

// Eight candidates per slot keeps the Space-Saving error small for the top K (its guarantee:
// any peer with more than N/capacity resets is tracked).
constexpr std::size_t kCandidatesPerSlot = 8;
constexpr std::size_t kMinCandidates = 64;

}  // namespace

std::size_t PeerTable::PeerHash::operator()(const IpAddress& address) const noexcept {
  std::uint64_t low = 0;
  std::uint64_t high = 0;
  std::memcpy(&low, address.data(), sizeof(low));
  std::memcpy(&high, address.data() + sizeof(low), sizeof(high));
  std::uint64_t h =
      low * 0x9E3779B97F4A7C15ULL ^ (high + static_cast<std::uint64_t>(address.family()));
  h ^= h >> 29;
  h *= 0xBF58476D1CE4E5B9ULL;
  return static_cast<std::size_t>(h ^ (h >> 32));
}

PeerTable::PeerTable(std::size_t max_peers)
    : capacity_(std::max(kMinCandidates, max_peers * kCandidatesPerSlot)), slots_(max_peers) {
  candidates_.reserve(capacity_);
}

void PeerTable::set_max_peers(std::size_t max_peers) {
  for (std::size_t i = max_peers; i < slots_.size(); ++i) {
    if (slots_[i]) candidates_.at(*slots_[i]).slot.reset();
  }
  slots_.resize(max_peers);
  capacity_ = std::max(kMinCandidates, max_peers * kCandidatesPerSlot);
  if (candidates_.size() <= capacity_) return;
  std::vector<std::pair<std::uint64_t, IpAddress>> unslotted;
  for (const auto& [peer, candidate] : candidates_) {
    if (!candidate.slot) unslotted.emplace_back(candidate.count, peer);
  }
  const std::size_t excess = std::min(unslotted.size(), candidates_.size() - capacity_);
  std::nth_element(unslotted.begin(), unslotted.begin() + static_cast<std::ptrdiff_t>(excess),
                   unslotted.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (std::size_t i = 0; i < excess; ++i) candidates_.erase(unslotted[i].second);
}

std::uint64_t PeerTable::estimated_resets(const IpAddress& peer) const {
  const auto it = candidates_.find(peer);
  return it == candidates_.end() ? 0 : it->second.count;
}

PeerTable::Assignment PeerTable::record(const IpAddress& peer) {
  auto it = candidates_.find(peer);
  if (it == candidates_.end()) {
    Candidate fresh;
    if (candidates_.size() >= capacity_) {
      // Replace the unslotted candidate with the smallest count; the newcomer inherits it as
      // its error bound. Slot holders are never dropped here, so their counts stay exact.
      auto victim = candidates_.end();
      for (auto c = candidates_.begin(); c != candidates_.end(); ++c) {
        if (!c->second.slot &&
            (victim == candidates_.end() || c->second.count < victim->second.count)) {
          victim = c;
        }
      }
      if (victim != candidates_.end()) {
        fresh.count = fresh.error = victim->second.count;
        candidates_.erase(victim);
      }
    }
    it = candidates_.emplace(peer, fresh).first;
  }
  Candidate& candidate = it->second;
  ++candidate.count;

  Assignment assignment;
  if (candidate.slot) {
    assignment.slot = candidate.slot;
    return assignment;
  }
  if (slots_.empty()) return assignment;

  // A free slot goes to the first peer that resets; a taken one only to a peer that beat its
  // holder by a quarter (and at least 2) so two peers of similar rates do not swap series.
  std::optional<std::size_t> target;
  std::uint64_t weakest = 0;
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    if (!slots_[i]) {
      target = i;
      weakest = 0;
      break;
    }
    const std::uint64_t holder = candidates_.at(*slots_[i]).count;
    if (!target || holder < weakest) {
      target = i;
      weakest = holder;
    }
  }
  const bool free_slot = !slots_[*target];
  if (!free_slot && guaranteed(candidate) < weakest + std::max<std::uint64_t>(2, weakest / 4)) {
    return assignment;  // counted in "other"
  }
  if (!free_slot) {
    Candidate& holder = candidates_.at(*slots_[*target]);
    holder.slot.reset();
    assignment.displaced = *slots_[*target];
  }
  slots_[*target] = peer;
  candidate.slot = target;
  assignment.slot = target;
  assignment.promoted = true;
  return assignment;
}

}  // namespace connwatch::passive
