#include "probes/kernel/kernel_poller.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

namespace connwatch::kernel {
namespace {

using namespace std::chrono_literals;

bool wait_for(const std::function<bool()>& condition, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return condition();
}

TEST(KernelPoller, CollectsAtOnceAndThenEveryInterval) {
  KernelOptions options;
  options.interval = 50ms;
  KernelPoller poller(options, nullptr);
  ASSERT_TRUE(wait_for([&] { return poller.collections() >= 3; }, 10s));
  const auto latest = poller.latest();
  ASSERT_TRUE(latest);
  EXPECT_TRUE(latest->sockets);
}

TEST(KernelPoller, HasNoSnapshotBeforeTheFirstCollectionAndKeepsTheLatest) {
  KernelOptions options;
  options.interval = 1h;
  KernelPoller poller(options, nullptr);
  ASSERT_TRUE(wait_for([&] { return poller.latest() != nullptr; }, 10s));
  const auto first = poller.latest();
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(poller.latest(), first);  // an hour until the next one
  EXPECT_EQ(poller.collections(), 1U);
}

TEST(KernelPoller, StopsWithinASecondWhileWaitingForALongInterval) {
  KernelOptions options;
  options.interval = 1h;
  KernelPoller poller(options, nullptr);
  ASSERT_TRUE(wait_for([&] { return poller.collections() >= 1; }, 10s));
  const auto start = std::chrono::steady_clock::now();
  poller.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
}

}  // namespace
}  // namespace connwatch::kernel
