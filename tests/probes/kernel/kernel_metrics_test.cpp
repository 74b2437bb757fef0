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
  s.sockets->has_quality = true;
  s.sockets->quality = {{ep("127.0.0.1:8080"), 1, 10, 1, 0.001, 0.001}};
  metrics.update(s);
  std::set<std::string> names;
  for (const auto& family : registry.Collect()) names.insert(family.name);
  EXPECT_EQ(
      names,
      (std::set<std::string>{
          "connwatch_sockets", "connwatch_time_wait_sockets", "connwatch_ephemeral_ports_in_use",
          "connwatch_ephemeral_port_range_size", "connwatch_ephemeral_port_utilization_ratio",
          "connwatch_file_descriptors", "connwatch_file_descriptors_limit",
          "connwatch_kernel_tcp_events_total", "connwatch_conntrack_entries",
          "connwatch_conntrack_limit", "connwatch_kernel_collector_errors_total",
          "connwatch_network_namespaces", "connwatch_destination_retransmitted_segments_total",
          "connwatch_destination_sent_segments_total", "connwatch_destination_rtt_seconds"}));
}

TEST_F(KernelMetricsTest, ExportsStatesDestinationsAndLimits) {
  metrics.update(snapshot());
  EXPECT_TRUE(has_line(R"(connwatch_sockets{netns="self",state="time_wait"} 507)"));
  EXPECT_TRUE(has_line(R"(connwatch_sockets{netns="self",state="established"} 6)"));
  EXPECT_TRUE(has_line(R"(connwatch_sockets{netns="self",state="syn_recv"} 0)"));
  EXPECT_TRUE(
      has_line(R"(connwatch_time_wait_sockets{destination="127.0.0.1:8080",netns="self"} 500)"));
  EXPECT_TRUE(has_line(R"(connwatch_time_wait_sockets{destination="[::1]:8443",netns="self"} 7)"));
  EXPECT_TRUE(has_line(
      R"(connwatch_ephemeral_ports_in_use{destination="127.0.0.1:8080",netns="self"} 503)"));
  EXPECT_TRUE(has_line(R"(connwatch_ephemeral_port_range_size{netns="self"} 28232)"));
  EXPECT_TRUE(has_line("connwatch_file_descriptors 981"));
  EXPECT_TRUE(has_line("connwatch_file_descriptors_limit 2466193"));
  EXPECT_TRUE(has_line("connwatch_conntrack_entries 12"));
  EXPECT_TRUE(has_line("connwatch_conntrack_limit 262144"));
  EXPECT_TRUE(mentions(
      R"(connwatch_ephemeral_port_utilization_ratio{destination="127.0.0.1:8080",netns="self"} 0.0178)"));
  EXPECT_FALSE(mentions(R"(destination="other")"));  // nothing was folded
}

TEST_F(KernelMetricsTest, DropsTheSeriesOfADestinationThatLeavesTheTopK) {
  metrics.update(snapshot());
  auto s = snapshot();
  s.sockets->time_wait = {{ep("127.0.0.1:8080"), 480}};
  s.sockets->time_wait_other = 9;
  s.sockets->ports_in_use.clear();
  metrics.update(s);
  EXPECT_TRUE(
      has_line(R"(connwatch_time_wait_sockets{destination="127.0.0.1:8080",netns="self"} 480)"));
  EXPECT_TRUE(has_line(R"(connwatch_time_wait_sockets{destination="other",netns="self"} 9)"));
  EXPECT_FALSE(mentions("[::1]:8443"));
  EXPECT_FALSE(mentions("connwatch_ephemeral_ports_in_use{"));
  EXPECT_FALSE(mentions("connwatch_ephemeral_port_utilization_ratio{"));
}

TEST_F(KernelMetricsTest, ExportsOtherWithTheHighestFoldedUtilization) {
  auto s = snapshot();
  s.sockets->ports_in_use_other = 40;
  s.sockets->utilization_other = 0.25;
  metrics.update(s);
  EXPECT_TRUE(has_line(R"(connwatch_ephemeral_ports_in_use{destination="other",netns="self"} 40)"));
  EXPECT_TRUE(has_line(
      R"(connwatch_ephemeral_port_utilization_ratio{destination="other",netns="self"} 0.25)"));
}

TEST_F(KernelMetricsTest, MirrorsTheKernelsCounterValues) {
  auto s = snapshot();
  metrics.update(s);
  EXPECT_TRUE(has_line(R"(connwatch_kernel_tcp_events_total{counter="OutRsts",netns="self"} 11)"));
  EXPECT_TRUE(
      has_line(R"(connwatch_kernel_tcp_events_total{counter="TCPAbortOnData",netns="self"} 1)"));
  EXPECT_FALSE(mentions(R"(counter="ListenDrops")"));  // never read: no series
  s.tcp_events[index_of(TcpEventCounter::kOutRsts)] = 30;
  metrics.update(s);
  EXPECT_TRUE(has_line(R"(connwatch_kernel_tcp_events_total{counter="OutRsts",netns="self"} 30)"));
}

TEST_F(KernelMetricsTest, RestartsACounterWhenTheKernelsValueGoesBackwards) {
  auto s = snapshot();
  s.tcp_events[index_of(TcpEventCounter::kOutRsts)] = 1000;
  metrics.update(s);
  s.tcp_events[index_of(TcpEventCounter::kOutRsts)] = 3;  // e.g. a new network namespace
  metrics.update(s);
  EXPECT_TRUE(has_line(R"(connwatch_kernel_tcp_events_total{counter="OutRsts",netns="self"} 3)"));
  s.tcp_events[index_of(TcpEventCounter::kOutRsts)] = 5;
  metrics.update(s);
  EXPECT_TRUE(has_line(R"(connwatch_kernel_tcp_events_total{counter="OutRsts",netns="self"} 5)"));
}

TEST_F(KernelMetricsTest, KeepsCountersButDropsGaugesOfAFailedSource) {
  metrics.update(snapshot());
  KernelSnapshot failed;  // every source failed
  metrics.update(failed);
  EXPECT_FALSE(mentions("connwatch_sockets{"));
  EXPECT_FALSE(mentions("connwatch_time_wait_sockets{"));
  EXPECT_FALSE(mentions("\nconnwatch_file_descriptors "));
  EXPECT_FALSE(mentions("\nconnwatch_ephemeral_port_range_size{"));
  EXPECT_TRUE(has_line(R"(connwatch_kernel_tcp_events_total{counter="OutRsts",netns="self"} 11)"));
}

TEST_F(KernelMetricsTest, OmitsConntrackWhereItIsNotLoaded) {
  auto s = snapshot();
  s.conntrack.reset();
  metrics.update(s);
  EXPECT_FALSE(mentions("\nconnwatch_conntrack_entries "));
  EXPECT_FALSE(mentions("\nconnwatch_conntrack_limit "));
}

// Three namespaces, max_namespaces 1: the agent's own and the busiest keep their series, the third
// is summed into netns="other", so every family sums over netns to the host's figure.
TEST_F(KernelMetricsTest, LabelsEveryNamespaceAndFoldsThoseBeyondTheTopKIntoOther) {
  const auto ns = [](const char* name, std::uint64_t inode, bool own_series, std::uint64_t tw,
                     std::uint64_t out_rsts) {
    NamespaceSnapshot n;
    n.name = name;
    n.inode = inode;
    n.self = inode == 1;
    n.own_series = own_series;
    n.port_range = EphemeralPortRange{};
    SocketTableSummary t;
    t.by_state[index_of(TcpState::kTimeWait)] = tw;
    t.time_wait = {{ep("10.0.0.2:443"), tw - 1}};
    t.time_wait_other = 1;
    t.ports_in_use = {{ep("10.0.0.2:443"), *IpAddress::parse("10.0.0.1"), tw, 0.5}};
    t.sockets = tw;
    n.sockets = t;
    n.tcp_events[index_of(TcpEventCounter::kOutRsts)] = out_rsts;
    return n;
  };
  KernelSnapshot s;
  s.namespaces = {ns("host", 1, true, 10, 100), ns("blue", 2, true, 600, 7),
                  ns("container:0123456789ab", 3, false, 30, 5)};
  s.unreadable_namespaces = 2;
  metrics.update(s);
  EXPECT_TRUE(has_line(R"(connwatch_sockets{netns="host",state="time_wait"} 10)"));
  EXPECT_TRUE(has_line(R"(connwatch_sockets{netns="blue",state="time_wait"} 600)"));
  EXPECT_TRUE(has_line(R"(connwatch_sockets{netns="other",state="time_wait"} 30)"));
  EXPECT_TRUE(
      has_line(R"(connwatch_time_wait_sockets{destination="10.0.0.2:443",netns="blue"} 599)"));
  EXPECT_TRUE(has_line(R"(connwatch_time_wait_sockets{destination="other",netns="blue"} 1)"));
  EXPECT_TRUE(has_line(R"(connwatch_time_wait_sockets{destination="other",netns="other"} 30)"));
  EXPECT_TRUE(
      has_line(R"(connwatch_ephemeral_ports_in_use{destination="other",netns="other"} 30)"));
  EXPECT_TRUE(has_line(
      R"(connwatch_ephemeral_port_utilization_ratio{destination="other",netns="other"} 0.5)"));
  EXPECT_TRUE(has_line(R"(connwatch_ephemeral_port_range_size{netns="blue"} 28232)"));
  EXPECT_FALSE(mentions(R"(connwatch_ephemeral_port_range_size{netns="other"})"));
  EXPECT_TRUE(has_line(R"(connwatch_kernel_tcp_events_total{counter="OutRsts",netns="host"} 100)"));
  EXPECT_TRUE(has_line(R"(connwatch_kernel_tcp_events_total{counter="OutRsts",netns="other"} 5)"));
  EXPECT_TRUE(has_line(R"(connwatch_network_namespaces{readable="true"} 3)"));
  EXPECT_TRUE(has_line(R"(connwatch_network_namespaces{readable="false"} 2)"));
  EXPECT_FALSE(mentions("container:0123456789ab"));

  // "blue" vanishes: its series go with it; the folded one's counter grows by its delta only.
  s.namespaces = {ns("host", 1, true, 10, 100), ns("container:0123456789ab", 3, false, 30, 8)};
  metrics.update(s);
  EXPECT_FALSE(mentions(R"(netns="blue")"));
  EXPECT_TRUE(has_line(R"(connwatch_kernel_tcp_events_total{counter="OutRsts",netns="other"} 8)"));
}

TEST_F(KernelMetricsTest, AddsSegmentDeltasPerDestinationAndExportsTheirRtt) {
  auto s = snapshot();
  s.sockets->has_quality = true;
  DestinationQuality lossy;
  lossy.destination = ep("10.0.0.2:443");
  lossy.retransmitted = 40;
  lossy.sent = 1000;
  lossy.rtt_sockets = 4;
  lossy.rtt_mean_seconds = 0.05;
  lossy.rtt_max_seconds = 0.2;
  s.sockets->quality = {lossy};
  s.sockets->quality_destinations = 2;
  s.sockets->quality_other.sent = 7;
  metrics.update(s);
  metrics.update(s);  // each collection's deltas add up
  EXPECT_TRUE(has_line(
      R"(connwatch_destination_retransmitted_segments_total{destination="10.0.0.2:443",netns="self"} 80)"));
  EXPECT_TRUE(has_line(
      R"(connwatch_destination_sent_segments_total{destination="10.0.0.2:443",netns="self"} 2000)"));
  EXPECT_TRUE(has_line(
      R"(connwatch_destination_sent_segments_total{destination="other",netns="self"} 14)"));
  EXPECT_TRUE(has_line(
      R"(connwatch_destination_rtt_seconds{destination="10.0.0.2:443",netns="self",stat="mean"} 0.05)"));
  EXPECT_TRUE(has_line(
      R"(connwatch_destination_rtt_seconds{destination="10.0.0.2:443",netns="self",stat="max"} 0.2)"));
  EXPECT_FALSE(mentions(R"(connwatch_destination_rtt_seconds{destination="other")"));
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
