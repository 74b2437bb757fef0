#include "probes/passive/packet_pipeline.h"

#include <algorithm>
#include <array>

namespace connwatch::passive {

FlowTrackerOptions shard_options(const FlowTrackerOptions& options, std::size_t shards) {
  FlowTrackerOptions each = options;
  if (shards > 1) each.max_flows = (options.max_flows + shards - 1) / shards;
  return each;
}

PacketPipeline::PacketPipeline(LinkType link, const FlowTrackerOptions& options,
                               PassiveMetrics* metrics, std::shared_ptr<PeerResetCounts> peers)
    : link_(link),
      tracker_(options),
      metrics_(metrics),
      peers_(peers != nullptr ? std::move(peers)
                              : std::make_shared<PeerResetCounts>(options.max_peers, metrics)) {}

PacketPipeline::~PacketPipeline() {
  if (metrics_ != nullptr && flushed_flows_ > 0) {
    metrics_->flows().Decrement(static_cast<double>(flushed_flows_));
  }
}

void PacketPipeline::on_packet(std::span<const std::uint8_t> bytes, PacketTime time) {
  ++counts_.packets;
  const DissectResult result = dissect(bytes, link_);
  switch (result.outcome) {
    case DissectOutcome::kSegment:
      record(tracker_.observe(result.segment, time));
      return;
    case DissectOutcome::kNotTcp:
      ++counts_.not_tcp;
      return;
    case DissectOutcome::kTruncated:
      ++counts_.truncated;
      return;
    case DissectOutcome::kMalformed:
      ++counts_.malformed;
      return;
  }
}

void PacketPipeline::on_batch(std::span<const Dissected> batch) {
  std::array<FlowTracker::Prepared, kBatch>& prepared = prepared_;
  for (std::size_t start = 0; start < batch.size(); start += kBatch) {
    const std::size_t count = std::min(kBatch, batch.size() - start);
    const Dissected* packets = batch.data() + start;
    // A rolling pipeline: while segment i is observed, segment i + kSlotLookahead is prepared
    // (its index slot prefetched) and segment i + kLookahead's entry is prefetched (reading the
    // slot prepared kSlotLookahead - kLookahead segments before). A few misses in flight at any
    // time, not a burst of a whole batch's (which filled the line fill buffers and stalled).
    const auto prepare = [&](std::size_t i) {
      if (i < count && packets[i].result.outcome == DissectOutcome::kSegment) {
        tracker_.prepare(packets[i].result.segment, prepared[i]);
      }
    };
    const auto prefetch = [&](std::size_t i) {
      if (i < count && packets[i].result.outcome == DissectOutcome::kSegment) {
        tracker_.prefetch(prepared[i]);
      }
    };
    for (std::size_t i = 0; i < kSlotLookahead; ++i) prepare(i);
    for (std::size_t i = 0; i < kLookahead; ++i) prefetch(i);
    for (std::size_t i = 0; i < count; ++i) {
      prepare(i + kSlotLookahead);
      prefetch(i + kLookahead);
      ++counts_.packets;
      switch (packets[i].result.outcome) {
        case DissectOutcome::kSegment: {
          const Observation observation =
              tracker_.observe(packets[i].result.segment, packets[i].time, prepared[i]);
          if (observation.counts()) record(observation);
          break;
        }
        case DissectOutcome::kNotTcp:
          ++counts_.not_tcp;
          break;
        case DissectOutcome::kTruncated:
          ++counts_.truncated;
          break;
        case DissectOutcome::kMalformed:
          ++counts_.malformed;
          break;
      }
    }
  }
}

void PacketPipeline::on_truncated_packet() {
  ++counts_.packets;
  ++counts_.truncated;
}

void PacketPipeline::record(const Observation& observation) {
  if (observation.duplicate) {
    ++counts_.duplicates;
    return;
  }
  if (!observation.connection_opened && !observation.reset && !observation.close &&
      !observation.injected_reset && !observation.time_wait[0] && !observation.time_wait[1]) {
    return;
  }
  const PassiveMetrics::PortSeries* series =
      metrics_ != nullptr ? &metrics_->port(observation.port) : nullptr;
  if (observation.connection_opened) {
    ++counts_.connections;
    if (series) series->connections->Increment();
  }
  if (observation.reset) {
    const ResetEvent& reset = *observation.reset;
    const std::size_t sender = index_of(reset.sender);
    const std::size_t phase = index_of(reset.phase);
    ++counts_.resets[sender][phase];
    if (series) series->resets[sender][phase]->Increment();
    if (reset.suspected_middlebox) {
      ++counts_.resets_suspected_middlebox;
      counts_.last_middlebox_reset =
          MiddleboxReset{reset.peer.to_string(), reset.ttl, reset.flow_ttl};
      if (series) series->resets_suspected_middlebox->Increment();
    }
    peers_->record(reset.peer, reset.sender);
  }
  if (observation.injected_reset) {
    const ResetEvent& reset = *observation.injected_reset;
    ++counts_.resets_suspected_middlebox;
    counts_.last_middlebox_reset =
        MiddleboxReset{reset.peer.to_string(), reset.ttl, reset.flow_ttl};
    if (series) series->resets_suspected_middlebox->Increment();
  }
  for (const TimeWaitSide side : kTimeWaitSides) {
    if (!observation.time_wait[index_of(side)]) continue;
    ++counts_.time_wait_entries[index_of(side)];
    if (series) series->time_wait_entries[index_of(side)]->Increment();
  }
  if (observation.close) {
    ++counts_.closes[index_of(*observation.close)];
    if (series) series->closes[index_of(*observation.close)]->Increment();
  }
}

void PacketPipeline::reconfigure(const FlowTrackerOptions& options) {
  tracker_.reconfigure(options);
  if (metrics_ != nullptr) {
    for (const std::uint16_t listed : options.ports) metrics_->port(PortLabel::port(listed));
  }
  peers_->set_max_peers(options.max_peers);
}

void PacketPipeline::add_drops(std::uint64_t kernel, std::uint64_t interface) {
  counts_.dropped_kernel += kernel;
  counts_.dropped_interface += interface;
  if (metrics_ != nullptr) {
    if (kernel > 0) metrics_->dropped_kernel().Increment(static_cast<double>(kernel));
    if (interface > 0) metrics_->dropped_interface().Increment(static_cast<double>(interface));
  }
}

void PacketPipeline::set_capture_up(bool up) {
  counts_.capture_up = up;
  if (metrics_ != nullptr) metrics_->capture_up().Set(up ? 1 : 0);
}

void PacketPipeline::flush() {
  if (metrics_ == nullptr) return;
  const auto push = [](prometheus::Counter& counter, std::uint64_t now, std::uint64_t& pushed) {
    if (now > pushed) counter.Increment(static_cast<double>(now - pushed));
    pushed = now;
  };
  push(metrics_->packets(), counts_.packets, flushed_packets_);
  push(metrics_->malformed(DissectOutcome::kTruncated), counts_.truncated, flushed_truncated_);
  push(metrics_->malformed(DissectOutcome::kMalformed), counts_.malformed, flushed_malformed_);
  push(metrics_->flows_evicted(), tracker_.evicted(), flushed_evicted_);
  // By the change, not Set(): other pipelines' flows are in the same gauge.
  const std::uint64_t flows = tracker_.flows();
  if (flows > flushed_flows_) {
    metrics_->flows().Increment(static_cast<double>(flows - flushed_flows_));
  } else if (flows < flushed_flows_) {
    metrics_->flows().Decrement(static_cast<double>(flushed_flows_ - flows));
  }
  flushed_flows_ = flows;
}

PassiveSnapshot PacketPipeline::snapshot() const {
  PassiveSnapshot snapshot = counts_;
  snapshot.flows = tracker_.flows();
  snapshot.flows_evicted = tracker_.evicted();
  snapshot.flows_expired = tracker_.expired();
  snapshot.peers = peers_->snapshot();
  return snapshot;
}

}  // namespace connwatch::passive
