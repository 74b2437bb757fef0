// One target as the landing page and `agent --diagnose` see it: its last probe, its counts by
// outcome and result, its pool, its addresses. A plain copy, safe to keep.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "probes/active/pool_view.h"
#include "probes/active/probe_report.h"
#include "probes/active/target_counts.h"

namespace connwatch::active {

struct TargetSnapshot {
  std::string name;
  std::string url;
  std::string kind;  // "http", "https", "tcp"
  double interval_seconds = 0;
  bool running = false;       // a probe is in progress
  std::uint64_t skipped = 0;  // scheduled runs skipped because the previous one still ran
  std::optional<ProbeReport> last;
  TargetCounts counts;  // attempts by outcome, results, retries, pool and DNS counters
  PoolView pool;
  std::vector<std::string> addresses;  // the last resolution's, "ip:port"
};

}  // namespace connwatch::active
