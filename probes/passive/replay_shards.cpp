#include "probes/passive/replay_shards.h"

#include <map>
#include <string>
#include <utility>

#include "probes/passive/flow_key.h"

namespace connwatch::passive {
namespace {

FlowTrackerOptions worker_options(const FlowTrackerOptions& options, std::size_t workers) {
  FlowTrackerOptions each = options;
  each.max_flows = (options.max_flows + workers - 1) / workers;  // the same memory in all
  return each;
}

}  // namespace

ReplayShards::ReplayShards(std::size_t workers, LinkType link, const FlowTrackerOptions& options)
    : max_moved_(std::max<std::size_t>(options.max_flows, 1)) {
  const FlowTrackerOptions each = worker_options(options, workers);
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
  std::vector<PeerResets> peers;  // named peers in order of first appearance
  PeerResets other;
  other.peer = "other";
  const auto add_peer = [&](const PeerResets& peer) {
    PeerResets* into = &other;
    if (peer.peer != "other") {
      into = nullptr;
      for (PeerResets& known : peers) {
        if (known.peer == peer.peer) into = &known;
      }
      if (into == nullptr) into = &peers.emplace_back(PeerResets{peer.peer, {}});
    }
    for (std::size_t i = 0; i < peer.by_sender.size(); ++i) into->by_sender[i] += peer.by_sender[i];
  };
  for (auto& worker : workers_) {
    const PassiveSnapshot s = worker->pipeline.snapshot();
    total.packets += s.packets;
    total.truncated += s.truncated;
    total.malformed += s.malformed;
    total.not_tcp += s.not_tcp;
    total.duplicates += s.duplicates;
    total.connections += s.connections;
    for (std::size_t i = 0; i < s.resets.size(); ++i) {
      for (std::size_t j = 0; j < s.resets[i].size(); ++j) total.resets[i][j] += s.resets[i][j];
    }
    total.resets_suspected_middlebox += s.resets_suspected_middlebox;
    if (s.last_middlebox_reset) total.last_middlebox_reset = s.last_middlebox_reset;
    for (std::size_t i = 0; i < s.time_wait_entries.size(); ++i) {
      total.time_wait_entries[i] += s.time_wait_entries[i];
    }
    for (std::size_t i = 0; i < s.closes.size(); ++i) total.closes[i] += s.closes[i];
    for (const PeerResets& peer : s.peers) add_peer(peer);
    total.flows += s.flows;
    total.flows_evicted += s.flows_evicted;
    total.flows_expired += s.flows_expired;
  }
  total.peers = std::move(peers);
  total.peers.push_back(other);
  return total;
}

}  // namespace connwatch::passive
