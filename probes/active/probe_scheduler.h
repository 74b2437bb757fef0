// Probes every configured target on its own interval, on the agent's io_context thread.
// The first run of each target is spread over its interval by a hash of its name, so a thousand
// targets do not fire at once; a probe never overlaps itself (the run is skipped and counted).
// reconfigure() applies a reloaded target list: unchanged targets keep their pools, removed ones
// are closed and their series removed. Call everything on the io_context's thread.
#pragma once

#include <prometheus/registry.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "probes/active/active_metrics.h"
#include "probes/active/backoff.h"
#include "probes/active/probe_harness.h"
#include "probes/active/target_snapshot.h"

namespace connwatch::active {

struct SchedulerOptions {
  // Spread first runs over the interval (off: every target probes at once at start()).
  bool spread_first_run = true;
  // PEM bundle trusted besides the system CA store (a private CA; tests). Certificate
  // verification is always on.
  std::string ca_file;
  // Called after every completed probe with the target's snapshot (probe-once prints them).
  std::function<void(const TargetSnapshot&)> on_probe;
  // Feeds backoff jitter; default: a Mersenne Twister seeded from std::random_device.
  Backoff::Random random;
};

class ProbeScheduler {
 public:
  // Registers the active families in `registry` (throws on a conflicting registration, and on an
  // unreadable ca_file: startup errors). Nothing runs before start().
  ProbeScheduler(boost::asio::io_context& io, prometheus::Registry& registry,
                 std::vector<config::Target> targets, SchedulerOptions options = {});
  ~ProbeScheduler();
  ProbeScheduler(const ProbeScheduler&) = delete;
  ProbeScheduler& operator=(const ProbeScheduler&) = delete;

  void start();
  // Closes every pool (reason shutdown) and cancels every timer; probes in flight end without
  // recording. Series stay registered. Idempotent.
  void stop();
  void reconfigure(std::vector<config::Target> targets);

  std::vector<TargetSnapshot> snapshots() const;
  std::optional<TargetSnapshot> snapshot(std::string_view name) const;
  std::size_t size() const { return entries_.size(); }

  // The first run's offset into the interval: FNV-1a of the name modulo the interval.
  static std::chrono::milliseconds first_run_offset(std::string_view name,
                                                    std::chrono::milliseconds interval);

 private:
  struct Entry;
  std::shared_ptr<Entry> make_entry(config::Target target,
                                    std::shared_ptr<TargetMetrics> metrics = nullptr);
  // Waits for the entry's timer, probes, and re-arms for the next interval.
  static void begin(const std::shared_ptr<Entry>& entry);

  boost::asio::io_context& io_;
  ActiveMetrics families_;
  SchedulerOptions options_;
  boost::asio::ssl::context tls_;
  std::map<std::string, std::shared_ptr<Entry>, std::less<>> entries_;
  bool started_ = false;
  bool stopped_ = false;
};

TargetSnapshot make_snapshot(const ProbeHarness& harness);

}  // namespace connwatch::active
