#include "probes/kernel/kernel_metrics.h"

#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <set>
#include <string>

namespace connwatch::kernel {
namespace {

Endpoint ep(const char* text) { return *Endpoint::parse(text); }

class KernelMetricsTest : public ::testing::Test {
 protected:
  std::string scrape() const { return prometheus::TextSerializer().Serialize(registry.Collect()); }
  bool has_line(const std::string& line) const {
    return ("\n" + scrape()).find("\n" + line + "\n") != std::string::npos;
  }
  bool mentions(const std::string& text) const { return scrape().find(text) != std::string::npos; }

  static KernelSnapshot snapshot() {
    KernelSnapshot s;
    s.port_range = EphemeralPortRange{};
    SocketTableSummary t;
    t.by_state[index_of(TcpState::kTimeWait)] = 507;
    t.by_state[index_of(TcpState::kEstablished)] = 6;
    t.time_wait = {{ep("127.0.0.1:8080"), 500}, {ep("[::1]:8443"), 7}};
    t.ports_in_use = {{ep("127.0.0.1:8080"), *IpAddress::parse("127.0.0.1"), 503, 503.0 / 28232}};
    t.usable_ports = 28232;
    s.sockets = t;
    s.file_descriptors = FileDescriptorUsage{981, 2466193};
    s.conntrack = ConntrackUsage{12, 262144};
    s.tcp_events[index_of(TcpEventCounter::kOutRsts)] = 11;
    s.tcp_events[index_of(TcpEventCounter::kTcpAbortOnData)] = 1;
    return s;
  }

  prometheus::Registry registry;
  KernelMetrics metrics{registry};
};

TEST_F(KernelMetricsTest, ExportsExactlyTheKernelFamiliesOfSpecAndItsErrorCounter) {
  auto s = snapshot();
  for (const auto c : kAllTcpEventCounters) s.tcp_events[index_of(c)] = 1;
  metrics.update(s);
  std::set<std::string> names;
  for (const auto& family : registry.Collect()) names.insert(family.name);
  EXPECT_EQ(names, (std::set<std::string>{
                       "connwatch_sockets", "connwatch_time_wait_sockets",
                       "connwatch_ephemeral_ports_in_use", "connwatch_ephemeral_port_range_size",
                       "connwatch_ephemeral_port_utilization_ratio", "connwatch_file_descriptors",
                       "connwatch_file_descriptors_limit", "connwatch_kernel_tcp_events_total",
                       "connwatch_conntrack_entries", "connwatch_conntrack_limit",
                       "connwatch_kernel_collector_errors_total"}));
}

TEST_F(KernelMetricsTest, ExportsStatesDestinationsAndLimits) {
  metrics.update(snapshot());
  EXPECT_TRUE(has_line(R"(connwatch_sockets{state="time_wait"} 507)"));
  EXPECT_TRUE(has_line(R"(connwatch_sockets{state="established"} 6)"));
  EXPECT_TRUE(has_line(R"(connwatch_sockets{state="syn_recv"} 0)"));
  EXPECT_TRUE(has_line(R"(connwatch_time_wait_sockets{destination="127.0.0.1:8080"} 500)"));
  EXPECT_TRUE(has_line(R"(connwatch_time_wait_sockets{destination="[::1]:8443"} 7)"));
  EXPECT_TRUE(has_line(R"(connwatch_ephemeral_ports_in_use{destination="127.0.0.1:8080"} 503)"));
  EXPECT_TRUE(has_line("connwatch_ephemeral_port_range_size 28232"));
  EXPECT_TRUE(has_line("connwatch_file_descriptors 981"));
  EXPECT_TRUE(has_line("connwatch_file_descriptors_limit 2466193"));
  EXPECT_TRUE(has_line("connwatch_conntrack_entries 12"));
  EXPECT_TRUE(has_line("connwatch_conntrack_limit 262144"));
  EXPECT_TRUE(mentions(
      R"(connwatch_ephemeral_port_utilization_ratio{destination="127.0.0.1:8080"} 0.0178)"));
  EXPECT_FALSE(mentions(R"(destination="other")"));  // nothing was folded
}

TEST_F(KernelMetricsTest, DropsTheSeriesOfADestinationThatLeavesTheTopK) {
  metrics.update(snapshot());
  auto s = snapshot();
  s.sockets->time_wait = {{ep("127.0.0.1:8080"), 480}};
  s.sockets->time_wait_other = 9;
  s.sockets->ports_in_use.clear();
  metrics.update(s);
  EXPECT_TRUE(has_line(R"(connwatch_time_wait_sockets{destination="127.0.0.1:8080"} 480)"));
  EXPECT_TRUE(has_line(R"(connwatch_time_wait_sockets{destination="other"} 9)"));
  EXPECT_FALSE(mentions("[::1]:8443"));
  EXPECT_FALSE(mentions("connwatch_ephemeral_ports_in_use{"));
  EXPECT_FALSE(mentions("connwatch_ephemeral_port_utilization_ratio{"));
}

TEST_F(KernelMetricsTest, ExportsOtherWithTheHighestFoldedUtilization) {
  auto s = snapshot();
  s.sockets->ports_in_use_other = 40;
  s.sockets->utilization_other = 0.25;
  metrics.update(s);
  EXPECT_TRUE(has_line(R"(connwatch_ephemeral_ports_in_use{destination="other"} 40)"));
  EXPECT_TRUE(has_line(R"(connwatch_ephemeral_port_utilization_ratio{destination="other"} 0.25)"));
}

TEST_F(KernelMetricsTest, MirrorsTheKernelsCounterValues) {
  auto s = snapshot();
  metrics.update(s);
  EXPECT_TRUE(has_line(R"(connwatch_kernel_tcp_events_total{counter="OutRsts"} 11)"));
  EXPECT_TRUE(has_line(R"(connwatch_kernel_tcp_events_total{counter="TCPAbortOnData"} 1)"));
  EXPECT_FALSE(mentions(R"(counter="ListenDrops")"));  // never read: no series
  s.tcp_events[index_of(TcpEventCounter::kOutRsts)] = 30;
  metrics.update(s);
  EXPECT_TRUE(has_line(R"(connwatch_kernel_tcp_events_total{counter="OutRsts"} 30)"));
}

TEST_F(KernelMetricsTest, RestartsACounterWhenTheKernelsValueGoesBackwards) {
  auto s = snapshot();
  s.tcp_events[index_of(TcpEventCounter::kOutRsts)] = 1000;
  metrics.update(s);
  s.tcp_events[index_of(TcpEventCounter::kOutRsts)] = 3;  // e.g. a new network namespace
  metrics.update(s);
  EXPECT_TRUE(has_line(R"(connwatch_kernel_tcp_events_total{counter="OutRsts"} 3)"));
  s.tcp_events[index_of(TcpEventCounter::kOutRsts)] = 5;
  metrics.update(s);
  EXPECT_TRUE(has_line(R"(connwatch_kernel_tcp_events_total{counter="OutRsts"} 5)"));
}

TEST_F(KernelMetricsTest, KeepsCountersButDropsGaugesOfAFailedSource) {
  metrics.update(snapshot());
  KernelSnapshot failed;  // every source failed
  metrics.update(failed);
  EXPECT_FALSE(mentions("connwatch_sockets{"));
  EXPECT_FALSE(mentions("connwatch_time_wait_sockets{"));
  EXPECT_FALSE(mentions("\nconnwatch_file_descriptors "));
  EXPECT_FALSE(mentions("\nconnwatch_ephemeral_port_range_size "));
  EXPECT_TRUE(has_line(R"(connwatch_kernel_tcp_events_total{counter="OutRsts"} 11)"));
}

TEST_F(KernelMetricsTest, OmitsConntrackWhereItIsNotLoaded) {
  auto s = snapshot();
  s.conntrack.reset();
  metrics.update(s);
  EXPECT_FALSE(mentions("\nconnwatch_conntrack_entries "));
  EXPECT_FALSE(mentions("\nconnwatch_conntrack_limit "));
}

TEST_F(KernelMetricsTest, CountsErrorsPerRegisteredCollectorFromZero) {
  EXPECT_TRUE(has_line(R"(connwatch_kernel_collector_errors_total{collector="sock_diag"} 0)"));
  metrics.count_error("netstat");
  metrics.count_error("netstat");
  metrics.count_error("not-a-collector");  // unbounded label values are refused
  EXPECT_TRUE(has_line(R"(connwatch_kernel_collector_errors_total{collector="netstat"} 2)"));
  EXPECT_FALSE(mentions("not-a-collector"));
}

}  // namespace
}  // namespace connwatch::kernel
