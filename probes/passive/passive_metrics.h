// PassiveMetrics: the passive-capture metric families of SPEC §4, registered at construction.
//
// Registration happens here, once (prometheus-cpp throws only while registering); the capture
// threads then update plain Counter&/Gauge& references, which are atomic. Series for a server
// port label are created the first time the port is seen (at most 1024 + listed ports + other),
// under a mutex: several capture threads may see a new port at once. Peer series follow the
// PeerTable slots; only PeerResetCounts (which serializes its calls) assigns them.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <array>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

#include "net/ip_address.h"
#include "probes/passive/dissector.h"
#include "probes/passive/flow_labels.h"
#include "probes/passive/flow_tracker.h"

namespace connwatch::passive {

// The shared address types (net/), by the names this module used before they were shared.
using net::IpAddress;

class PassiveMetrics {
 public:
  // All series of one `port` label value.
  struct PortSeries {
    prometheus::Counter* connections = nullptr;
    std::array<std::array<prometheus::Counter*, kResetPhases.size()>, kResetSenders.size()>
        resets{};
    prometheus::Counter* resets_suspected_middlebox = nullptr;
    std::array<prometheus::Counter*, kTimeWaitSides.size()> time_wait_entries{};
    std::array<prometheus::Counter*, kCloseHows.size()> closes{};
  };

  // Registers every family (throws prometheus-cpp's exceptions on a name clash: startup only).
  PassiveMetrics(prometheus::Registry& registry, const FlowTrackerOptions& options);
  PassiveMetrics(const PassiveMetrics&) = delete;
  PassiveMetrics& operator=(const PassiveMetrics&) = delete;

  prometheus::Gauge& capture_up() { return capture_up_; }
  prometheus::Counter& packets() { return packets_; }
  prometheus::Counter& dropped_kernel() { return dropped_kernel_; }
  prometheus::Counter& dropped_interface() { return dropped_interface_; }
  prometheus::Gauge& flows() { return flows_; }
  prometheus::Counter& flows_evicted() { return flows_evicted_; }
  // reason must be kTruncated or kMalformed.
  prometheus::Counter& malformed(DissectOutcome reason);

  // The series of a port label, created on first use. Thread-safe; the reference stays valid.
  const PortSeries& port(PortLabel label);

  // A peer takes a PeerTable slot: the slot's old series are removed, the peer's added.
  void assign_peer(std::size_t slot, const IpAddress& peer);
  // Resizes the peer slots (capture.max_peers on a reload): slots from max_peers on lose their
  // series. The caller moves their counts to "other" first (see PacketPipeline::reconfigure).
  void set_max_peers(std::size_t max_peers);
  // The counter a reset from `sender` counts in: the slot's peer, or "other".
  prometheus::Counter& peer_resets(std::optional<std::size_t> slot, ResetSender sender);

 private:
  using PeerSeries = std::array<prometheus::Counter*, kResetSenders.size()>;

  prometheus::Family<prometheus::Counter>& connections_family_;
  prometheus::Family<prometheus::Counter>& resets_family_;
  prometheus::Family<prometheus::Counter>& peer_resets_family_;
  prometheus::Family<prometheus::Counter>& middlebox_family_;
  prometheus::Family<prometheus::Counter>& time_wait_family_;
  prometheus::Family<prometheus::Counter>& closes_family_;
  prometheus::Family<prometheus::Gauge>& up_family_;
  prometheus::Family<prometheus::Counter>& packets_family_;
  prometheus::Family<prometheus::Counter>& dropped_family_;
  prometheus::Family<prometheus::Gauge>& flows_family_;
  prometheus::Family<prometheus::Counter>& evicted_family_;
  prometheus::Family<prometheus::Counter>& malformed_family_;

  prometheus::Gauge& capture_up_;
  prometheus::Counter& packets_;
  prometheus::Counter& dropped_kernel_;
  prometheus::Counter& dropped_interface_;
  prometheus::Gauge& flows_;
  prometheus::Counter& flows_evicted_;
  prometheus::Counter& truncated_;
  prometheus::Counter& malformed_;

  std::mutex ports_mutex_;
  std::unordered_map<std::uint32_t, PortSeries> ports_;  // node-based: references stay valid
  std::vector<std::optional<PeerSeries>> peer_slots_;
  PeerSeries peer_other_{};
};

}  // namespace connwatch::passive
