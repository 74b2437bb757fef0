// PacketPipeline: dissector -> flow tracker -> counts, the one path every captured packet takes,
// live or replayed. It keeps a PassiveSnapshot and, when given, updates PassiveMetrics.
//
// Not thread-safe: one capture thread owns it. Event counters (resets, closes, ...) go to
// Prometheus as they happen; per-packet counts are batched and pushed by flush(). Several
// pipelines may feed one PassiveMetrics (LiveCapture with capture.threads > 1): every counter is
// incremented, never set, the flows gauge moves by each pipeline's change (so it is the sum of
// the pipelines' flows), and the per-peer counts live in one PeerResetCounts they share.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "probes/passive/dissector.h"
#include "probes/passive/flow_tracker.h"
#include "probes/passive/link_type.h"
#include "probes/passive/passive_metrics.h"
#include "probes/passive/passive_snapshot.h"
#include "probes/passive/peer_reset_counts.h"

namespace connwatch::passive {

// The options of one of `shards` pipelines that share a capture's flows by hash (ReplayShards,
// LiveCapture with capture.threads > 1): max_flows / shards each (rounded up), the same memory in
// all; everything else as given.
FlowTrackerOptions shard_options(const FlowTrackerOptions& options, std::size_t shards);

class PacketPipeline {
 public:
  // metrics may be null (replay to JSON/text, tests). peers: the per-peer counts shared with
  // other pipelines of the same capture; null = this pipeline's own (max_peers from options).
  PacketPipeline(LinkType link, const FlowTrackerOptions& options, PassiveMetrics* metrics,
                 std::shared_ptr<PeerResetCounts> peers = nullptr);
  // Takes its flows out of the flows gauge (they are no longer tracked).
  ~PacketPipeline();
  PacketPipeline(const PacketPipeline&) = delete;
  PacketPipeline& operator=(const PacketPipeline&) = delete;

  void set_link_type(LinkType link) { link_ = link; }
  LinkType link_type() const { return link_; }

  // One packet that passed the capture filter.
  void on_packet(std::span<const std::uint8_t> bytes, PacketTime time);

  // Packets that passed the capture filter, already dissected (replay dissects to select, see
  // CaptureFilter::selects), handled as one batch so memory latency overlaps: a rolling pipeline
  // prepares each segment kSlotLookahead segments ahead of its turn (flow key and hash, its index
  // slot and duplicate-filter slot prefetched), prefetches its flow entry kLookahead segments
  // ahead, and observes the segments in capture order. The counts are those of on_packet() on
  // each in turn.
  struct Dissected {
    DissectResult result;
    PacketTime time{};
  };
  static constexpr std::size_t kBatch = 128;
  static constexpr std::size_t kSlotLookahead = 16;  // index slots prefetched ahead of use
  static constexpr std::size_t kLookahead = 8;       // entries prefetched ahead of use
  void on_batch(std::span<const Dissected> batch);
  // A packet that never reached the filter intact because snaplen cut it (replay: see
  // replay.cpp); counted as passed and truncated, as live capture would have.
  void on_truncated_packet();

  // Applies reloaded options in place (FlowTracker::reconfigure, PeerResetCounts::set_max_peers):
  // the flows, the peer table and every count stay, so no counter goes down across a reload. Peers
  // whose slot goes away (a smaller max_peers) move their counts to "other", like a displaced
  // peer. The series of newly listed ports are created at once, at zero.
  void reconfigure(const FlowTrackerOptions& options);

  void expire(PacketTime now) { tracker_.expire(now); }
  // Cumulative pcap_stats deltas.
  void add_drops(std::uint64_t kernel, std::uint64_t interface);
  void set_capture_up(bool up);
  // Pushes batched per-packet counts and this pipeline's change of flows to the metrics.
  void flush();

  PassiveSnapshot snapshot() const;
  FlowTracker& tracker() { return tracker_; }

 private:
  void record(const Observation& observation);

  LinkType link_;
  FlowTracker tracker_;
  // on_batch()'s scratch: a member, not a local, so it is not value-initialized on every batch.
  std::array<FlowTracker::Prepared, kBatch> prepared_;
  PassiveMetrics* metrics_;
  std::shared_ptr<PeerResetCounts> peers_;
  PassiveSnapshot counts_;
  // What flush() already pushed.
  std::uint64_t flushed_packets_ = 0;
  std::uint64_t flushed_truncated_ = 0;
  std::uint64_t flushed_malformed_ = 0;
  std::uint64_t flushed_evicted_ = 0;
  std::uint64_t flushed_flows_ = 0;  // this pipeline's share of the flows gauge
};

}  // namespace connwatch::passive
