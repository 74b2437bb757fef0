// Runs KernelCollector::collect_once() every interval on its own thread, off the Asio loop (a dump
// of 100k sockets takes tens of milliseconds of blocking syscalls). Stops within a second.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <stop_token>
#include <thread>

#include "probes/kernel/kernel_collector.h"
#include "probes/kernel/kernel_options.h"
#include "probes/kernel/kernel_snapshot.h"

namespace connwatch::kernel {

class KernelMetrics;

class KernelPoller {
 public:
  // Starts collecting at once, then every options.interval. `metrics` may be null and must
  // outlive the poller.
  KernelPoller(KernelOptions options, KernelMetrics* metrics);
  ~KernelPoller();  // stop()
  KernelPoller(const KernelPoller&) = delete;
  KernelPoller& operator=(const KernelPoller&) = delete;

  // Wakes the thread and joins it; a collection in progress finishes first.
  void stop();

  // The most recent snapshot, null before the first collection finished.
  std::shared_ptr<const KernelSnapshot> latest() const;
  std::uint64_t collections() const;

 private:
  void run(std::stop_token stop);

  KernelCollector collector_;
  std::chrono::milliseconds interval_;
  mutable std::mutex mutex_;
  std::condition_variable_any wake_;
  std::shared_ptr<const KernelSnapshot> latest_;
  std::uint64_t collections_ = 0;
  std::jthread thread_;  // last: started after everything it uses exists
};

}  // namespace connwatch::kernel
