// PassiveSnapshot: plain counts of everything the passive probe observed, for diagnose and
// `agent --replay` (which must not need Prometheus), alongside the metric families.
#pragma once

#include <array>
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "probes/passive/flow_labels.h"

namespace connwatch::passive {

struct PeerResets {
  std::string peer;  // an address, or "other"
  std::array<std::uint64_t, kResetSenders.size()> by_sender{};

  std::uint64_t total() const { return by_sender[0] + by_sender[1] + by_sender[2]; }
  bool operator==(const PeerResets&) const = default;
};

// The latest reset whose TTL did not match its flow: the evidence diagnose quotes.
struct MiddleboxReset {
  std::string peer;
  std::uint8_t reset_ttl = 0;
  std::uint8_t flow_ttl = 0;
};

struct PassiveSnapshot {
  bool capture_up = false;
  std::uint64_t packets = 0;         // passed the capture filter (connwatch_capture_packets_total)
  std::uint64_t truncated = 0;       // cut by snaplen before the TCP flags
  std::uint64_t malformed = 0;       // impossible lengths or versions
  std::uint64_t not_tcp = 0;         // passed the filter but carried no TCP header
  std::uint64_t duplicates = 0;      // the same segment seen twice ("any" over several interfaces)
  std::uint64_t dropped_kernel = 0;  // pcap_stats ps_drop
  std::uint64_t dropped_interface = 0;  // pcap_stats ps_ifdrop

  std::uint64_t connections = 0;
  // [sender][phase]
  std::array<std::array<std::uint64_t, kResetPhases.size()>, kResetSenders.size()> resets{};
  std::uint64_t resets_suspected_middlebox = 0;
  std::optional<MiddleboxReset> last_middlebox_reset;
  std::array<std::uint64_t, kTimeWaitSides.size()> time_wait_entries{};
  std::array<std::uint64_t, kCloseHows.size()> closes{};
  // Peers with their own series first, then "other" (always present).
  std::vector<PeerResets> peers;

  std::uint64_t flows = 0;          // in the flow table now
  std::uint64_t flows_evicted = 0;  // dropped because the table was full
  std::uint64_t flows_expired = 0;  // dropped after flow_idle_timeout (or the closed linger)

  std::uint64_t resets_total() const;
  std::uint64_t resets_by_sender(ResetSender sender) const;
  std::uint64_t resets_by_phase(ResetPhase phase) const;
};

// Adds `part` to `total`, for captures and replays split over threads (ReplayShards, LiveCapture
// with capture.threads > 1): every count and the flows summed, peers summed by address (named
// peers in order of first appearance, then "other", kept last), last_middlebox_reset taken from
// `part` when it has one. capture_up is left as it is: the caller decides what "up" means.
void accumulate(PassiveSnapshot& total, const PassiveSnapshot& part);

// Exactly SPEC §2's `--replay --format json` object.
nlohmann::json to_json(const PassiveSnapshot& snapshot);

// A few lines for a person at a terminal.
void write_summary(std::ostream& out, const PassiveSnapshot& snapshot);

}  // namespace connwatch::passive
