#include "probes/passive/peer_reset_counts.h"

namespace connwatch::passive {

PeerResetCounts::PeerResetCounts(std::size_t max_peers, PassiveMetrics* metrics)
    : table_(max_peers), metrics_(metrics), slots_(max_peers) {
  other_.peer = "other";
}

void PeerResetCounts::record(const IpAddress& peer, ResetSender sender) {
  const std::lock_guard lock(mutex_);
  const PeerTable::Assignment assignment = table_.record(peer);
  if (assignment.promoted && assignment.slot) {
    retire(*assignment.slot);
    slots_[*assignment.slot] = PeerResets{peer.to_string(), {}};
    if (metrics_) metrics_->assign_peer(*assignment.slot, peer);
  }
  PeerResets& counts = assignment.slot ? slots_[*assignment.slot] : other_;
  ++counts.by_sender[index_of(sender)];
  if (metrics_) metrics_->peer_resets(assignment.slot, sender).Increment();
}

// The displaced peer's resets move to "other", so the per-peer counts keep summing to all resets
// and sum(connwatch_tcp_peer_resets_total) never goes down.
void PeerResetCounts::retire(std::size_t slot) {
  PeerResets& displaced = slots_[slot];
  for (const ResetSender s : kResetSenders) {
    const std::uint64_t moved = displaced.by_sender[index_of(s)];
    other_.by_sender[index_of(s)] += moved;
    if (metrics_ && moved > 0) {
      metrics_->peer_resets(std::nullopt, s).Increment(static_cast<double>(moved));
    }
  }
  displaced = PeerResets{};
}

void PeerResetCounts::set_max_peers(std::size_t max_peers) {
  const std::lock_guard lock(mutex_);
  if (max_peers == slots_.size()) return;
  for (std::size_t slot = max_peers; slot < slots_.size(); ++slot) retire(slot);
  table_.set_max_peers(max_peers);
  slots_.resize(max_peers);
  if (metrics_ != nullptr) metrics_->set_max_peers(max_peers);
}

std::vector<PeerResets> PeerResetCounts::snapshot() const {
  const std::lock_guard lock(mutex_);
  std::vector<PeerResets> peers;
  for (const PeerResets& peer : slots_) {
    if (!peer.peer.empty()) peers.push_back(peer);
  }
  peers.push_back(other_);
  return peers;
}

}  // namespace connwatch::passive
