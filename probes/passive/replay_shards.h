// ReplayShards: `agent --replay FILE --threads N`. One reader (replay.cpp) walks and dissects the
// file and hands every selected packet here in capture order; each goes to one of N workers, a
// PacketPipeline on its own thread, chosen by its flow's hash, so every flow is tracked by one
// worker seeing its segments in order. finish() joins the workers and adds their counts up.
//
// The same segment seen through NAT under another 4-tuple (FLOWS.md "Duplicates and NAT") has
// another hash: the router keeps a small table like DuplicateFilter's (fingerprint, 50 ms, TTL
// within 8 hops) and sends such a copy, and from then on every segment of its 4-tuple, to the
// worker that had the first copy, where the tracker links the two views as with one thread.
//
// Counts equal one thread's (tests/probes/passive/replay_shards_test.cpp runs every fixture both
// ways) except where one thread's own bounds would decide differently: each worker has
// max_flows / N flows (the same memory), so under eviction pressure other flows may be evicted;
// the per-peer split of resets beyond max_peers, and which middlebox reset was "last", follow each
// worker's own order. Prometheus output (shared metrics) replays on one thread.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "probes/passive/duplicate_filter.h"
#include "probes/passive/flow_tracker.h"
#include "probes/passive/packet_pipeline.h"
#include "probes/passive/passive_snapshot.h"

namespace connwatch::passive {

class ReplayShards {
 public:
  // workers >= 2; link is only the pipelines' default (packets arrive dissected).
  ReplayShards(std::size_t workers, LinkType link, const FlowTrackerOptions& options);
  ~ReplayShards();
  ReplayShards(const ReplayShards&) = delete;
  ReplayShards& operator=(const ReplayShards&) = delete;

  // One packet that passed the selection, in capture order.
  void add(const PacketPipeline::Dissected& packet);
  // A packet the file cut before the filter could see it (counted as truncated).
  void add_truncated() { ++truncated_; }
  // Packets handed out so far (the reader's count, for messages).
  std::uint64_t packets() const { return packets_; }

  // Hands out what is pending, waits for every worker, and adds their snapshots up.
  PassiveSnapshot finish();

 private:
  // Packets move to a worker this many at a time; at most kMaxQueued batches wait per worker
  // (the reader blocks beyond), so memory stays bounded whatever the file's size.
  static constexpr std::size_t kHandoff = 1024;
  static constexpr std::size_t kMaxQueued = 8;

  struct Worker {
    Worker(LinkType link, const FlowTrackerOptions& options) : pipeline(link, options, nullptr) {}
    PacketPipeline pipeline;
    std::mutex mutex;
    std::condition_variable changed;
    std::deque<std::vector<PacketPipeline::Dissected>> queue;
    bool done = false;
    std::vector<PacketPipeline::Dissected> pending;  // the reader's, not yet handed over
    std::thread thread;
  };

  std::size_t route(const TcpSegment& segment, PacketTime time);
  void hand_over(Worker& worker);
  static void run(Worker& worker);

  std::vector<std::unique_ptr<Worker>> workers_;
  // Recent segments by fingerprint; Seen::flow_position holds the worker it went to.
  DuplicateFilter recent_;
  std::unordered_map<std::uint32_t, std::uint32_t> moved_;  // a NAT view's hash -> worker
  std::size_t max_moved_;
  std::uint64_t packets_ = 0;
  std::uint64_t truncated_ = 0;
  bool finished_ = false;
};

}  // namespace connwatch::passive
