// Replay: runs a pcap or pcapng file through the same filter, dissector and flow tracker as live
// capture (`agent --replay FILE [--format text|json|prometheus]`, SPEC §2).
#pragma once

#include <cstddef>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>

#include "probes/passive/flow_tracker.h"
#include "probes/passive/passive_metrics.h"
#include "probes/passive/passive_snapshot.h"

namespace connwatch::passive {

enum class ReplayFormat { kText, kJson, kPrometheus };

std::string_view to_string(ReplayFormat format);
std::optional<ReplayFormat> replay_format_from_string(std::string_view text);

struct ReplayResult {
  PassiveSnapshot snapshot;  // partial when the file is corrupt part-way
  bool opened = false;       // false: nothing was read (missing file, not a capture, ...)
  std::string error;         // empty on success; names the file otherwise
};

// Reads the whole file; metrics may be null. Never throws. threads > 1 tracks the flows on that
// many workers (ReplayShards, replay_shards.h) when metrics is null; with metrics, one thread.
ReplayResult replay_file(const std::string& path, const FlowTrackerOptions& options,
                         PassiveMetrics* metrics, std::size_t threads = 1);

// What `agent --replay` does: prints the counts in `format` to `out`, problems to `err`.
// Returns the exit code: 0, or 3 when the file cannot be read or is corrupt (partial counts are
// still printed for a file that breaks part-way).
// threads: as replay_file (`--threads`); Prometheus output replays on one thread.
int run_replay(const std::string& path, ReplayFormat format, const FlowTrackerOptions& options,
               std::ostream& out, std::ostream& err, std::size_t threads = 1);

}  // namespace connwatch::passive
