// PeerResetCounts: resets per remote peer (connwatch_tcp_peer_resets_total), the top max_peers
// peers by resets with their own series and the rest as "other".
//
// One object holds the PeerTable (which peers have a slot), the counts of each slot's holder and
// of "other", and drives PassiveMetrics' peer series. It is shared by every PacketPipeline of
// one capture (LiveCapture with capture.threads > 1), so there is one top-K for the process:
// two threads never pick different peers for the same series. Calls take a mutex; they come on
// reset events only (one per reset connection), which are rare next to packets.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

#include "probes/passive/flow_labels.h"
#include "probes/passive/passive_metrics.h"
#include "probes/passive/passive_snapshot.h"
#include "probes/passive/peer_table.h"

namespace connwatch::passive {

class PeerResetCounts {
 public:
  // metrics may be null (replay to JSON/text, tests).
  PeerResetCounts(std::size_t max_peers, PassiveMetrics* metrics);
  PeerResetCounts(const PeerResetCounts&) = delete;
  PeerResetCounts& operator=(const PeerResetCounts&) = delete;

  // One reset sent by `sender` on a connection whose remote end is `peer`.
  void record(const IpAddress& peer, ResetSender sender);

  // capture.max_peers on a reload: the counts stay. Peers whose slot goes away move their counts
  // to "other", like a displaced peer, so the sum over peers never goes down. No-op when equal.
  void set_max_peers(std::size_t max_peers);

  // Peers with a slot (in slot order), then "other" (always present).
  std::vector<PeerResets> snapshot() const;

 private:
  // The slot's peer loses its series: its counts so far move to "other".
  void retire(std::size_t slot);

  mutable std::mutex mutex_;
  PeerTable table_;
  PassiveMetrics* metrics_;
  // Per-slot counts since the slot's holder took it, and "other".
  std::vector<PeerResets> slots_;
  PeerResets other_;
};

}  // namespace connwatch::passive
