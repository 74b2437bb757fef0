// The measurement half of `agent --diagnose`: for a fixed duration, capture passively, probe the
// targets about once a second (plus one idle connection per HTTP target to time the server's
// keep-alive), sample the kernel tables, and return what was seen as Observations.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "agent/diagnose/observations.h"
#include "config/config.h"
#include "probes/kernel/kernel_options.h"
#include "probes/passive/flow_tracker.h"
#include "probes/passive/live_capture.h"

namespace connwatch::agent::diagnose {

struct Progress {
  double elapsed_seconds = 0;
  double duration_seconds = 0;
  std::uint64_t packets = 0;
  std::uint64_t resets = 0;
  std::uint64_t probes = 0;
};

struct MeasureOptions {
  std::chrono::milliseconds duration{10000};
  bool capture_enabled = true;
  passive::CaptureOptions capture;
  passive::FlowTrackerOptions tracker;
  kernel::KernelOptions kernel;
  std::vector<config::Target> targets;
  std::chrono::milliseconds probe_interval{1000};
  std::string ca_file;                            // extra trusted CA for https targets (tests)
  std::function<void(const Progress&)> progress;  // called about once a second
};

// Runs for options.duration on the calling thread. Never throws for what it observes (a source
// that fails leaves its part empty); throws std::exception only for startup errors such as an
// unreadable CA file.
Observations measure(const MeasureOptions& options);

// The probe schedule the run uses: each target every probe_interval, and for each HTTP(S) target
// a second entry ("<name> keep-alive") that sends one request and then leaves its connection idle
// for the rest of the run, so the pool's idle watch times the server's close.
std::vector<config::Target> probe_plan(const std::vector<config::Target>& targets,
                                       std::chrono::milliseconds duration,
                                       std::chrono::milliseconds probe_interval);
std::string keep_alive_name(const std::string& target);

}  // namespace connwatch::agent::diagnose
