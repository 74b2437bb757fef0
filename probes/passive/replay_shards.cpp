#include "probes/passive/replay_shards.h"

#include <map>
#include <string>
#include <utility>

#include "probes/passive/flow_key.h"

namespace connwatch::passive {

ReplayShards::ReplayShards(std::size_t workers, LinkType link, const FlowTrackerOptions& options)
    : max_moved_(std::max<std::size_t>(options.max_flows, 1)) {
  const FlowTrackerOptions each = shard_options(options, workers);
  for (std::size_t i = 0; i < workers; ++i) {
    workers_.push_back(std::make_unique<Worker>(link, each));
    workers_.back()->pending.reserve(kHandoff);
  }
  for (auto& worker : workers_) {
    Worker& w = *worker;
    w.thread = std::thread([&w] { run(w); });
  }
}

ReplayShards::~ReplayShards() {
  if (!finished_) finish();
}

void ReplayShards::run(Worker& worker) {
  for (;;) {
    std::vector<PacketPipeline::Dissected> batch;
    {
      std::unique_lock lock(worker.mutex);
      worker.changed.wait(lock, [&] { return !worker.queue.empty() || worker.done; });
      if (worker.queue.empty()) return;  // done and drained
      batch = std::move(worker.queue.front());
      worker.queue.pop_front();
    }
    worker.changed.notify_all();
    worker.pipeline.on_batch(batch);
  }
}

void ReplayShards::hand_over(Worker& worker) {
  if (worker.pending.empty()) return;
  {
    std::unique_lock lock(worker.mutex);
    worker.changed.wait(lock, [&] { return worker.queue.size() < kMaxQueued; });
    worker.queue.push_back(std::move(worker.pending));
  }
  worker.changed.notify_all();
  worker.pending = {};
  worker.pending.reserve(kHandoff);
}

std::size_t ReplayShards::route(const TcpSegment& segment, PacketTime time) {
  FlowKey key;
  FlowKey::assign(segment, key);
  const std::uint32_t hash = key.hash();
  std::size_t worker = hash % workers_.size();
  if (const auto moved = moved_.find(hash); moved != moved_.end()) worker = moved->second;
  const std::uint64_t fingerprint = DuplicateFilter::fingerprint(segment);
  const DuplicateFilter::Seen* first = recent_.find(fingerprint, time, segment.ttl);
  if (first == nullptr) {
    recent_.remember(fingerprint, time,
                     {.view_hash = hash,
                      .flow_position = static_cast<std::uint32_t>(worker),
                      .ttl = segment.ttl});
    return worker;
  }
  // A copy of a recent segment (like the tracker, the copy is not remembered). Under another
  // 4-tuple it is a NAT view: it and everything after it on its 4-tuple go to the first copy's
  // worker, whose tracker links the views.
  if (first->view_hash != hash) {
    worker = first->flow_position;
    if (moved_.size() >= max_moved_) moved_.clear();  // a bound, not an expected path
    moved_[hash] = static_cast<std::uint32_t>(worker);
  }
  return worker;
}

void ReplayShards::add(const PacketPipeline::Dissected& packet) {
  ++packets_;
  const std::size_t index = packet.result.outcome == DissectOutcome::kSegment
                                ? route(packet.result.segment, packet.time)
                                : 0;  // only counted
  Worker& worker = *workers_[index];
  worker.pending.push_back(packet);
  if (worker.pending.size() >= kHandoff) hand_over(worker);
}

PassiveSnapshot ReplayShards::finish() {
  finished_ = true;
  for (auto& worker : workers_) {
    hand_over(*worker);
    {
      std::lock_guard lock(worker->mutex);
      worker->done = true;
    }
    worker->changed.notify_all();
  }
  for (auto& worker : workers_) worker->thread.join();

  PassiveSnapshot total;
  total.capture_up = true;
  total.packets = truncated_;
  total.truncated = truncated_;
  for (auto& worker : workers_) accumulate(total, worker->pipeline.snapshot());
  if (total.peers.empty() || total.peers.back().peer != "other") {
    total.peers.push_back(PeerResets{"other", {}});
  }
  return total;
}

}  // namespace connwatch::passive
