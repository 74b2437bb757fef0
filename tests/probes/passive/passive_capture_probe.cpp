// passive-capture-probe: runs connwatch's LiveCapture on one interface for a while and prints
// what it counted, so tests can drive real capture in a lab namespace without the agent.
//
//   passive-capture-probe --interface IF [--seconds N] [--format json|prometheus]
//                         [--port P]... [--max-flows N]
//
// Prints "capture up on IF" to stderr once the capture is open (or "capture down: ..." while it
// is not), then runs until N seconds pass or SIGINT/SIGTERM arrives, stops the capture and
// prints the counts: the `agent --replay --format json` object plus a "capture" object
// (up_at_stop, dropped, duplicates, suspected_middlebox, flows), or the Prometheus text.
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <signal.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "probes/passive/live_capture.h"
#include "probes/passive/passive_metrics.h"

namespace {

int usage() {
  std::fprintf(stderr,
               "usage: passive-capture-probe --interface IF [--seconds N] "
               "[--format json|prometheus] [--port P]... [--max-flows N]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace connwatch::passive;
  CaptureOptions capture;
  FlowTrackerOptions tracker;
  capture.retry_initial = std::chrono::milliseconds(200);
  capture.retry_max = std::chrono::milliseconds(1000);
  long seconds = 10;
  std::string format = "json";
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (i + 1 >= argc) return usage();
    const char* value = argv[++i];
    if (arg == "--interface") {
      capture.interface = value;
    } else if (arg == "--seconds") {
      seconds = std::strtol(value, nullptr, 10);
    } else if (arg == "--format") {
      format = value;
    } else if (arg == "--port") {
      tracker.ports.push_back(static_cast<std::uint16_t>(std::strtoul(value, nullptr, 10)));
    } else if (arg == "--max-flows") {
      tracker.max_flows = std::strtoul(value, nullptr, 10);
    } else {
      return usage();
    }
  }
  if (format != "json" && format != "prometheus") return usage();

  // stdout carries the result; logs go to stderr.
  spdlog::set_default_logger(spdlog::stderr_logger_mt("passive-capture-probe"));

  // Block the stop signals before any thread starts, then wait for them synchronously.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  prometheus::Registry registry;
  PassiveMetrics metrics(registry, tracker);
  LiveCapture live(capture, tracker, &metrics);
  if (live.start()) {
    std::fprintf(stderr, "capture up on %s\n", capture.interface.c_str());
  } else {
    std::fprintf(stderr, "capture down: %s\n", live.last_error().c_str());
  }
  std::fflush(stderr);

  timespec timeout{seconds, 0};
  sigtimedwait(&stop_signals, nullptr, &timeout);
  const bool up_at_stop = live.up();
  live.stop();

  if (format == "prometheus") {
    prometheus::TextSerializer().Serialize(std::cout, registry.Collect());
    return 0;
  }
  const PassiveSnapshot snapshot = live.snapshot();
  nlohmann::json json = to_json(snapshot);
  json["capture"] = {
      {"up_at_stop", up_at_stop},
      {"dropped", {{"kernel", snapshot.dropped_kernel}, {"interface", snapshot.dropped_interface}}},
      {"duplicates", snapshot.duplicates},
      {"suspected_middlebox", snapshot.resets_suspected_middlebox},
      {"flows", snapshot.flows},
      {"flows_evicted", snapshot.flows_evicted},
      {"last_error", live.last_error()},
  };
  std::cout << json.dump() << std::endl;
  return 0;
}
