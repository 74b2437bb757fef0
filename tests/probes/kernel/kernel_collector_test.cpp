#include "probes/kernel/kernel_collector.h"

#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "probes/kernel/collectors.h"
#include "probes/kernel/kernel_metrics.h"
#include "tests/probes/kernel/testdata.h"
#include "tests/support/log_capture.h"

namespace connwatch::kernel {
namespace {

namespace fs = std::filesystem;

// A private copy of testdata/proc that a test may break.
class ProcCopy {
 public:
  ProcCopy() {
    char name[] = "/tmp/connwatch-proc-XXXXXX";
    root_ = ::mkdtemp(name);
    fs::copy(testing::testdata_dir() / "proc", root_, fs::copy_options::recursive);
    fs::create_directories(root_ / "self/fd");
    for (const char* fd : {"0", "1", "2"}) std::ofstream(root_ / "self/fd" / fd).put('\n');
  }
  ~ProcCopy() { fs::remove_all(root_); }
  const fs::path& root() const { return root_; }

 private:
  fs::path root_;
};

using connwatch::test_support::LogCapture;

std::string scrape(const prometheus::Registry& r) {
  return prometheus::TextSerializer().Serialize(r.Collect());
}

TEST(KernelCollector, RegistersEverySourceOnceByName) {
  std::set<std::string_view> names;
  for (const auto& entry : kernel_collectors()) names.insert(entry.name);
  EXPECT_EQ(names, (std::set<std::string_view>{"port_range", "sock_diag", "file_nr", "process_fds",
                                               "snmp", "netstat", "conntrack"}));
  EXPECT_EQ(kernel_collectors().front().name, "port_range");  // sock_diag needs the range
}

TEST(KernelCollector, ReadsEverySourceOfThisHost) {
  KernelCollector collector(KernelOptions{});
  const auto s = collector.collect_once();
  for (const auto& f : s.failures) ADD_FAILURE() << f.collector << ": " << f.error.message();
  ASSERT_TRUE(s.port_range);
  ASSERT_TRUE(s.sockets);
  ASSERT_TRUE(s.file_descriptors);
  ASSERT_TRUE(s.process_file_descriptors);
  EXPECT_GT(s.file_descriptors->allocated, 0U);
  EXPECT_GT(s.process_file_descriptors->open, 2U);
  for (const auto c : kAllTcpEventCounters) {
    EXPECT_TRUE(s.tcp_events[index_of(c)]) << to_string(c) << " missing on this kernel";
  }
  EXPECT_EQ(s.conntrack.has_value(), fs::exists("/proc/sys/net/netfilter/nf_conntrack_count"));
  EXPECT_GT(s.duration.count(), 0);
}

TEST(KernelCollector, KeepsGoingWhenOneSourceFails) {
  ProcCopy proc;
  fs::remove(proc.root() / "net/netstat");
  prometheus::Registry registry;
  KernelMetrics metrics(registry);
  KernelOptions options;
  options.proc_root = proc.root();
  KernelCollector collector(options, &metrics);
  const auto s = collector.collect_once();

  ASSERT_EQ(s.failures.size(), 1U);
  EXPECT_EQ(s.failures[0].collector, "netstat");
  EXPECT_EQ(s.failures[0].error, std::errc::no_such_file_or_directory);
  EXPECT_TRUE(s.sockets);                                             // the real tables, unaffected
  EXPECT_EQ(s.tcp_events[index_of(TcpEventCounter::kOutRsts)], 11U);  // from the copy's snmp
  EXPECT_FALSE(s.tcp_events[index_of(TcpEventCounter::kListenDrops)]);
  ASSERT_TRUE(s.file_descriptors);
  EXPECT_EQ(s.file_descriptors->allocated, 981U);
  ASSERT_TRUE(s.port_range);
  EXPECT_EQ(s.port_range->usable(), 28132U);
  EXPECT_EQ(s.process_file_descriptors->open, 3U);

  const auto text = scrape(registry);
  EXPECT_NE(text.find(R"(connwatch_kernel_collector_errors_total{collector="netstat"} 1)"),
            std::string::npos);
  EXPECT_NE(text.find(R"(connwatch_kernel_collector_errors_total{collector="snmp"} 0)"),
            std::string::npos);
  EXPECT_NE(text.find("connwatch_file_descriptors 981"), std::string::npos);
}

TEST(KernelCollector, LogsAFailingSourceOnceUntilItRecovers) {
  LogCapture log;
  ProcCopy proc;
  const std::string conntrack_max =
      testing::read_testdata_text("proc/sys/net/netfilter/nf_conntrack_max");
  std::ofstream(proc.root() / "sys/net/netfilter/nf_conntrack_max") << "garbage\n";
  KernelOptions options;
  options.proc_root = proc.root();
  KernelCollector collector(options);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(collector.collect_once().failed("conntrack"));
  EXPECT_EQ(log.count("kernel collector conntrack failed"), 1);

  std::ofstream(proc.root() / "sys/net/netfilter/nf_conntrack_max") << conntrack_max;
  const auto recovered = collector.collect_once();
  EXPECT_FALSE(recovered.failed("conntrack"));
  ASSERT_TRUE(recovered.conntrack);
  EXPECT_EQ(recovered.conntrack->limit, 262144U);
  EXPECT_EQ(log.count("kernel collector conntrack recovered"), 1);

  std::ofstream(proc.root() / "sys/net/netfilter/nf_conntrack_max") << "garbage\n";
  collector.collect_once();
  EXPECT_EQ(log.count("kernel collector conntrack failed"), 2);
}

TEST(KernelCollector, FallsBackToTheDefaultRangeWhenTheSysctlIsUnreadable) {
  ProcCopy proc;
  fs::remove(proc.root() / "sys/net/ipv4/ip_local_port_range");
  KernelOptions options;
  options.proc_root = proc.root();
  const auto s = KernelCollector(options).collect_once();
  EXPECT_TRUE(s.failed("port_range"));
  ASSERT_TRUE(s.sockets);
  EXPECT_EQ(s.sockets->usable_ports, 28232U);
}

// What Prometheus itself accepts: a scrape of real data through promtool's linter.
TEST(KernelCollector, ProducesAScrapeThatPromtoolAccepts) {
  if (std::system("promtool --version >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "promtool not installed (scripts/install-deps.sh installs it)";
  }
  prometheus::Registry registry;
  KernelMetrics metrics(registry);
  KernelCollector collector(KernelOptions{}, &metrics);
  collector.collect_once();
  const fs::path file = fs::temp_directory_path() / "connwatch-kernel-scrape.txt";
  std::ofstream(file) << scrape(registry);
  const std::string command = "promtool check metrics < " + file.string() + " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buf[512];
  while (std::fgets(buf, sizeof(buf), pipe) != nullptr) output += buf;
  const int status = ::pclose(pipe);
  fs::remove(file);
  EXPECT_EQ(status, 0) << output;
}

}  // namespace
}  // namespace connwatch::kernel
