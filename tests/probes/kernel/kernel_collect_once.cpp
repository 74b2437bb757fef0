// Runs the kernel collectors once in the current network namespace and prints what they found:
// the lab tests run it with `ip netns exec`, the benchmark times it against ss.
//
//   kernel-collect-once [--format json|text|prometheus] [--max-destinations N]
//                       [--proc-root DIR] [--repeat N] [--owners IP:PORT]
//                       [--all-namespaces] [--max-namespaces N] [--collections N --sleep-ms MS]
//
// --all-namespaces reads every network namespace of the host (sockets.namespaces = "all").
// --collections N collects N times, MS apart, into one registry and prints the last: what the
// per-destination segment counters (deltas between collections) are tested with.
//
// --repeat N collects N times and prints timing and memory as JSON instead (for kernel_bench.sh):
// {"collections", "first_seconds", "min_seconds", "median_seconds", "sockets",
//  "rss_before_kib", "rss_after_kib", "hwm_kib"}.
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "probes/kernel/kernel_collector.h"
#include "probes/kernel/kernel_metrics.h"
#include "probes/kernel/kernel_snapshot_json.h"
#include "probes/kernel/socket_owners.h"

namespace {

using namespace connwatch::kernel;

[[noreturn]] void usage(const char* error) {
  std::cerr << "kernel-collect-once: " << error
            << "\nusage: kernel-collect-once [--format json|text|prometheus] "
               "[--max-destinations N] [--proc-root DIR] [--repeat N] [--owners IP:PORT] "
               "[--all-namespaces] [--max-namespaces N] [--collections N --sleep-ms MS]\n";
  std::exit(2);
}

// VmRSS / VmHWM of this process in KiB.
long status_kib(const std::string& field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0)
      return std::strtol(line.c_str() + field.size() + 1, nullptr, 10);
  }
  return -1;
}

void print_text(const KernelSnapshot& s) {
  if (s.sockets) {
    std::cout << "sockets: " << s.sockets->sockets << "\n";
    for (const TcpState st : kAllTcpStates) {
      std::cout << "  " << to_string(st) << " " << s.sockets->count(st) << "\n";
    }
    std::cout << "time_wait by destination:\n";
    for (const auto& d : s.sockets->time_wait) {
      std::cout << "  " << d.destination.to_string() << " " << d.sockets << "\n";
    }
    if (s.sockets->time_wait_other > 0)
      std::cout << "  other " << s.sockets->time_wait_other << "\n";
    std::cout << "ephemeral ports in use (usable " << s.sockets->usable_ports << "):\n";
    for (const auto& d : s.sockets->ports_in_use) {
      std::cout << "  " << d.destination.to_string() << " from " << d.source.to_string() << " "
                << d.in_use << " (" << d.utilization * 100 << "%)\n";
    }
  }
  if (s.file_descriptors) {
    std::cout << "file handles: " << s.file_descriptors->allocated << " of "
              << s.file_descriptors->maximum << "\n";
  }
  for (const auto c : kAllTcpEventCounters) {
    if (const auto& v = s.tcp_events[index_of(c)]) std::cout << to_string(c) << " " << *v << "\n";
  }
  if (s.conntrack) {
    std::cout << "conntrack: " << s.conntrack->entries << " of " << s.conntrack->limit << "\n";
  }
  for (const auto& f : s.failures) {
    std::cout << "FAILED " << f.collector << ": " << f.error.message() << "\n";
  }
}

}  // namespace

int main(int argc, char** argv) {
  // Logs (a namespace that cannot be entered, ...) to stderr: stdout is the result.
  spdlog::set_default_logger(spdlog::stderr_color_mt("kernel-collect-once"));
  std::string format = "json";
  KernelOptions options;
  int repeat = 0;
  int collections = 1;
  int sleep_ms = 0;
  std::string owners;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(("missing value for " + arg).c_str());
      return argv[++i];
    };
    if (arg == "--format") {
      format = value();
    } else if (arg == "--max-destinations") {
      options.max_destinations = std::stoul(value());
    } else if (arg == "--proc-root") {
      options.proc_root = value();
    } else if (arg == "--repeat") {
      repeat = std::stoi(value());
    } else if (arg == "--owners") {
      owners = value();
    } else if (arg == "--all-namespaces") {
      options.all_namespaces = true;
    } else if (arg == "--max-namespaces") {
      options.max_namespaces = std::stoul(value());
    } else if (arg == "--collections") {
      collections = std::stoi(value());
    } else if (arg == "--sleep-ms") {
      sleep_ms = std::stoi(value());
    } else {
      usage(("unknown argument " + arg).c_str());
    }
  }
  if (format != "json" && format != "text" && format != "prometheus") usage("bad --format");

  if (!owners.empty()) {
    const auto destination = Endpoint::parse(owners);
    if (!destination) usage("--owners wants IP:PORT ([v6]:PORT)");
    DestinationOwners result;
    if (auto ec = find_socket_owners(*destination, result, options.proc_root)) {
      std::cerr << "kernel-collect-once: " << ec.message() << "\n";
      return 3;
    }
    std::cout << to_json(result).dump() << "\n";
    return 0;
  }

  if (repeat > 0) {
    const long rss_before = status_kib("VmRSS");
    KernelCollector collector(options);
    std::vector<double> seconds;
    std::uint64_t sockets = 0;
    std::size_t collector_namespaces = 0;
    for (int i = 0; i < repeat; ++i) {
      const auto s = collector.collect_once();
      seconds.push_back(std::chrono::duration<double>(s.duration).count());
      collector_namespaces = s.namespaces.size();
      sockets = 0;
      for (const auto& ns : s.namespaces) sockets += ns.socket_count();
      if (s.namespaces.empty() && s.sockets) sockets = s.sockets->sockets;
      if (!s.failures.empty()) {
        std::cerr << "collector " << s.failures[0].collector
                  << " failed: " << s.failures[0].error.message() << "\n";
      }
    }
    const double first = seconds.front();
    std::sort(seconds.begin(), seconds.end());
    nlohmann::json out = {{"collections", repeat},
                          {"namespaces", collector_namespaces},
                          {"first_seconds", first},
                          {"min_seconds", seconds.front()},
                          {"median_seconds", seconds[seconds.size() / 2]},
                          {"sockets", sockets},
                          {"rss_before_kib", rss_before},
                          {"rss_after_kib", status_kib("VmRSS")},
                          {"hwm_kib", status_kib("VmHWM")}};
    std::cout << out.dump() << "\n";
    return 0;
  }

  prometheus::Registry registry;
  KernelMetrics metrics(registry);
  KernelCollector collector(options, &metrics);
  auto snapshot = collector.collect_once();
  for (int i = 1; i < collections; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(sleep_ms));
    snapshot = collector.collect_once();
  }
  if (format == "json") {
    std::cout << to_json(snapshot).dump() << "\n";
  } else if (format == "prometheus") {
    std::cout << prometheus::TextSerializer().Serialize(registry.Collect());
  } else {
    print_text(snapshot);
  }
  return snapshot.failures.empty() ? 0 : 1;
}
