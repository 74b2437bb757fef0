// The process_* families read from /proc, checked against what the kernel and libc say directly.
#include "agent/self_metrics.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <vector>

namespace connwatch::agent {
namespace {

TEST(ProcessStats, MatchesWhatTheKernelSaysOfThisProcess) {
  // Burn some CPU so utime is measurably above zero.
  volatile double sink = 0;
  for (int i = 0; i < 30'000'000; ++i) sink = sink + i * 0.5;
  std::vector<int> fds;
  for (int i = 0; i < 10; ++i) fds.push_back(::open("/dev/null", O_RDONLY));
  const auto stats = read_process_stats("/proc/self");
  ASSERT_TRUE(stats);

  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  const double cpu = usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6 + usage.ru_stime.tv_sec +
                     usage.ru_stime.tv_usec / 1e6;
  EXPECT_GT(stats->cpu_seconds, 0.0);
  EXPECT_NEAR(stats->cpu_seconds, cpu, 0.05);  // clock ticks are 10 ms

  rlimit limit{};
  ::getrlimit(RLIMIT_NOFILE, &limit);
  EXPECT_EQ(stats->max_fds, static_cast<double>(limit.rlim_cur));

  // Open descriptors: at least stdin/out/err and the ten just opened, then ten fewer.
  EXPECT_GE(stats->open_fds, 13.0);
  for (const int fd : fds) ::close(fd);
  const auto after = read_process_stats("/proc/self");
  ASSERT_TRUE(after);
  EXPECT_EQ(after->open_fds, stats->open_fds - 10);

  // Resident <= virtual, and both in a sane range for a test binary.
  EXPECT_GT(stats->resident_memory_bytes, 1e6);
  EXPECT_LT(stats->resident_memory_bytes, stats->virtual_memory_bytes);
  std::ifstream statm("/proc/self/statm");
  double pages_virtual = 0, pages_resident = 0;
  statm >> pages_virtual >> pages_resident;
  EXPECT_NEAR(stats->resident_memory_bytes, pages_resident * ::sysconf(_SC_PAGESIZE), 16e6);

  // Started within the last few minutes (this test binary), not at boot or in the future.
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  EXPECT_LE(stats->start_time_seconds, now + 1);
  EXPECT_GT(stats->start_time_seconds, now - 600);
}

TEST(ProcessStats, AProcessThatIsGoneIsNotAnError) {
  EXPECT_FALSE(read_process_stats("/proc/999999999"));
  ProcessCollector gone("/proc/999999999");
  EXPECT_TRUE(gone.Collect().empty());
}

TEST(ProcessCollector, ExportsTheStandardFamiliesWithTheirTypes) {
  ProcessCollector collector;
  std::map<std::string, prometheus::MetricType> types;
  for (const auto& family : collector.Collect()) types[family.name] = family.type;
  using prometheus::MetricType;
  EXPECT_EQ(types, (std::map<std::string, MetricType>{
                       {"process_cpu_seconds_total", MetricType::Counter},
                       {"process_open_fds", MetricType::Gauge},
                       {"process_max_fds", MetricType::Gauge},
                       {"process_virtual_memory_bytes", MetricType::Gauge},
                       {"process_resident_memory_bytes", MetricType::Gauge},
                       {"process_start_time_seconds", MetricType::Gauge},
                   }));
  const std::string text = prometheus::TextSerializer().Serialize(collector.Collect());
  EXPECT_NE(text.find("# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total "),
            std::string::npos)
      << text;
}

TEST(SelfMetrics, ReloadTimestampMovesOnlyOnSuccess) {
  prometheus::Registry registry;
  SelfMetrics self(registry);
  auto value = [&](const std::string& name) {
    for (const auto& family : registry.Collect()) {
      if (family.name == name) return family.metric.at(0).gauge.value;
    }
    return -1.0;
  };
  self.config_loaded(true);
  const double first = value("connwatch_config_last_reload_success_timestamp_seconds");
  EXPECT_GT(first, 1.7e9);
  EXPECT_EQ(value("connwatch_config_last_reload_successful"), 1);
  self.config_loaded(false);
  EXPECT_EQ(value("connwatch_config_last_reload_successful"), 0);
  EXPECT_EQ(value("connwatch_config_last_reload_success_timestamp_seconds"), first);
}

}  // namespace
}  // namespace connwatch::agent
