// Processes near their open-files limit: the /proc/<pid>/limits parser on real text, and a scan
// that finds this test process once it holds most of a lowered limit.
#include "probes/kernel/process_fd_usage.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <limits>
#include <vector>

namespace connwatch::kernel {
namespace {

constexpr const char* kLimits =
    "Limit                     Soft Limit           Hard Limit           Units     \n"
    "Max cpu time              unlimited            unlimited            seconds   \n"
    "Max open files            1024                 524288               files     \n"
    "Max locked memory         8388608              8388608              bytes     \n";

TEST(ProcessFdUsage, ReadsTheSoftOpenFilesLimit) {
  EXPECT_EQ(parse_max_open_files(kLimits), 1024U);
}

TEST(ProcessFdUsage, UnlimitedIsTheLargestValueAndGarbageIsNothing) {
  EXPECT_EQ(parse_max_open_files("Max open files  unlimited  unlimited  files\n"),
            std::numeric_limits<std::uint64_t>::max());
  EXPECT_EQ(parse_max_open_files("Max open files  lots  unlimited  files\n"), std::nullopt);
  EXPECT_EQ(parse_max_open_files("Max open files\n"), std::nullopt);
  EXPECT_EQ(parse_max_open_files("Max cpu time  unlimited  unlimited  seconds\n"), std::nullopt);
  EXPECT_EQ(parse_max_open_files(""), std::nullopt);
}

TEST(ProcessFdUsage, FindsAProcessHoldingMostOfItsLimit) {
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  std::vector<int> fds;
  for (int i = 0; i < 16; ++i) fds.push_back(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  // The limit just above what is open now: this process is at ~95%.
  std::uint64_t open_now = 0;
  for (int fd = 0; fd < 4096; ++fd) open_now += ::fcntl(fd, F_GETFD) != -1 ? 1 : 0;
  rlimit low = saved;
  low.rlim_cur = open_now + open_now / 20 + 1;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  const auto found = processes_near_fd_limit(0.8);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &saved), 0);
  for (int fd : fds) ::close(fd);

  const auto self = std::find_if(found.begin(), found.end(),
                                 [](const ProcessFdUsage& p) { return p.pid == ::getpid(); });
  ASSERT_NE(self, found.end());
  EXPECT_EQ(self->limit, low.rlim_cur);
  EXPECT_GE(self->open, open_now);  // the scan's own directory handle may be counted
  EXPECT_LE(self->open, open_now + 2);
  EXPECT_GE(self->utilization(), 0.8);
}

}  // namespace
}  // namespace connwatch::kernel
