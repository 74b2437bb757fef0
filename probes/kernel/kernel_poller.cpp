#include "probes/kernel/kernel_poller.h"

#include <algorithm>

namespace connwatch::kernel {

KernelPoller::KernelPoller(KernelOptions options, KernelMetrics* metrics)
    : collector_(options, metrics),
      interval_(std::max(options.interval, std::chrono::milliseconds(1))),
      thread_([this](std::stop_token stop) { run(std::move(stop)); }) {}

KernelPoller::~KernelPoller() { stop(); }

void KernelPoller::stop() {
  if (!thread_.joinable()) return;
  thread_.request_stop();
  wake_.notify_all();
  thread_.join();
}

std::shared_ptr<const KernelSnapshot> KernelPoller::latest() const {
  std::lock_guard lock(mutex_);
  return latest_;
}

std::uint64_t KernelPoller::collections() const {
  std::lock_guard lock(mutex_);
  return collections_;
}

void KernelPoller::run(std::stop_token stop) {
  auto next = std::chrono::steady_clock::now();
  while (!stop.stop_requested()) {
    auto snapshot = std::make_shared<const KernelSnapshot>(collector_.collect_once());
    {
      std::lock_guard lock(mutex_);
      latest_ = std::move(snapshot);
      ++collections_;
    }
    // Fixed-rate schedule; if a collection overran the interval, start the next one at once
    // rather than bunching missed ones.
    next = std::max(next + interval_, std::chrono::steady_clock::now());
    std::unique_lock lock(mutex_);
    wake_.wait_until(lock, stop, next, [] { return false; });
  }
}

}  // namespace connwatch::kernel
