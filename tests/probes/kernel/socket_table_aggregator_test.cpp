#include "probes/kernel/socket_table_aggregator.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace connwatch::kernel {
namespace {

Endpoint ep(const char* text) { return *Endpoint::parse(text); }

SocketRecord socket(TcpState state, const char* local, const char* remote) {
  SocketRecord s;
  s.state = state;
  s.local = ep(local);
  s.remote = ep(remote);
  return s;
}

class SocketTableAggregatorTest : public ::testing::Test {
 protected:
  SocketTableSummary run(const std::vector<SocketRecord>& sockets, std::size_t k = 20,
                         std::size_t max_tracked = SocketTableAggregator::kMaxTrackedDestinations) {
    SocketTableAggregator aggregator(range, listening, max_tracked);
    for (const auto& s : sockets) aggregator.on_socket(s);
    return aggregator.summarize(k);
  }
  EphemeralPortRange range;  // 32768-60999
  PortSet listening;
};

TEST_F(SocketTableAggregatorTest, CountsSocketsByState) {
  const auto s = run({socket(TcpState::kListen, "0.0.0.0:80", "0.0.0.0:0"),
                      socket(TcpState::kEstablished, "10.0.0.1:40000", "10.0.0.2:443"),
                      socket(TcpState::kTimeWait, "10.0.0.1:40001", "10.0.0.2:443"),
                      socket(TcpState::kTimeWait, "10.0.0.1:40002", "10.0.0.2:443")});
  EXPECT_EQ(s.count(TcpState::kListen), 1U);
  EXPECT_EQ(s.count(TcpState::kEstablished), 1U);
  EXPECT_EQ(s.count(TcpState::kTimeWait), 2U);
  EXPECT_EQ(s.count(TcpState::kCloseWait), 0U);
  EXPECT_EQ(s.sockets, 4U);
}

TEST_F(SocketTableAggregatorTest, CountsTimeWaitPerDestination) {
  const auto s = run({socket(TcpState::kTimeWait, "10.0.0.1:40001", "10.0.0.2:443"),
                      socket(TcpState::kTimeWait, "10.0.0.1:40002", "10.0.0.2:443"),
                      socket(TcpState::kTimeWait, "10.0.0.1:40003", "10.0.0.3:80"),
                      socket(TcpState::kEstablished, "10.0.0.1:40004", "10.0.0.3:80")});
  ASSERT_EQ(s.time_wait.size(), 2U);
  EXPECT_EQ(s.time_wait[0].destination.to_string(), "10.0.0.2:443");
  EXPECT_EQ(s.time_wait[0].sockets, 2U);
  EXPECT_EQ(s.time_wait[1].destination.to_string(), "10.0.0.3:80");
  EXPECT_EQ(s.time_wait[1].sockets, 1U);
  EXPECT_EQ(s.time_wait_other, 0U);
}

// Issue 16.5: a server that closes first (Connection: close) holds the TIME_WAIT. It counts under
// the endpoint its clients connected to, never under a client's ephemeral port, and the
// destinations sum to the state's count. Seen before the fix: 10 by state against 1 by destination.
TEST_F(SocketTableAggregatorTest, CountsTheServerSidesTimeWaitUnderTheServersEndpoint) {
  listening.set(8080);
  std::vector<SocketRecord> sockets;
  for (int i = 0; i < 9; ++i) {
    const std::string client = "10.0.0.9:" + std::to_string(51000 + i);
    sockets.push_back(socket(TcpState::kTimeWait, "10.0.0.1:8080", client.c_str()));
  }
  // The listener on 9090 has gone; its TIME_WAIT still faces an ephemeral port.
  sockets.push_back(socket(TcpState::kTimeWait, "10.0.0.1:9090", "10.0.0.9:52000"));
  sockets.push_back(socket(TcpState::kEstablished, "10.0.0.1:8080", "10.0.0.9:51100"));
  sockets.push_back(socket(TcpState::kTimeWait, "10.0.0.1:40000", "10.0.0.2:443"));
  const auto s = run(sockets);
  EXPECT_EQ(s.count(TcpState::kTimeWait), 11U);
  std::uint64_t by_destination = s.time_wait_other;
  for (const auto& d : s.time_wait) by_destination += d.sockets;
  EXPECT_EQ(by_destination, 11U);
  ASSERT_EQ(s.time_wait.size(), 3U);
  EXPECT_EQ(s.time_wait[0].destination.to_string(), "10.0.0.1:8080");
  EXPECT_EQ(s.time_wait[0].sockets, 9U);
  for (const auto& d : s.time_wait) EXPECT_NE(d.destination.address.to_string(), "10.0.0.9");
  // Accepted sockets hold no ephemeral port of this host.
  ASSERT_EQ(s.ports_in_use.size(), 1U);
  EXPECT_EQ(s.ports_in_use[0].destination.to_string(), "10.0.0.2:443");
}

SocketRecord with_info(SocketRecord s, std::uint64_t cookie, std::uint32_t retrans,
                       std::uint32_t segs_out, std::uint32_t rtt_us) {
  s.cookie = cookie;
  s.has_info = true;
  s.total_retrans = retrans;
  s.segs_out = segs_out;
  s.rtt_us = rtt_us;
  return s;
}

TEST_F(SocketTableAggregatorTest, AddsRetransmissionsAndRttPerDestinationBetweenCollections) {
  SocketCounterHistory history;
  const auto collect = [&](const std::vector<SocketRecord>& sockets) {
    SocketTableAggregator aggregator(range, listening, 100, &history);
    for (const auto& s : sockets) aggregator.on_socket(s);
    history.finish_collection();
    return aggregator.summarize(1);
  };
  const auto lossy = socket(TcpState::kEstablished, "10.0.0.1:40000", "10.0.0.2:443");
  const auto lossy2 = socket(TcpState::kEstablished, "10.0.0.1:40001", "10.0.0.2:443");
  const auto clean = socket(TcpState::kEstablished, "10.0.0.1:40002", "10.0.0.3:80");
  const auto first =
      collect({with_info(lossy, 1, 10, 100, 1000), with_info(lossy2, 2, 0, 100, 3000),
               with_info(clean, 3, 0, 100, 500)});
  ASSERT_TRUE(first.has_quality);
  for (const auto& d : first.quality) EXPECT_EQ(d.retransmitted + d.sent, 0U);  // baseline

  const auto second = collect({with_info(lossy, 1, 30, 300, 2000),
                               with_info(lossy2, 2, 5, 200, 6000), with_info(clean, 3, 0, 150, 500),
                               with_info(clean, 9, 1, 20, 0)});  // born since: counted whole
  EXPECT_EQ(second.quality_destinations, 2U);
  ASSERT_EQ(second.quality.size(), 1U);
  const auto& d = second.quality[0];
  EXPECT_EQ(d.destination.to_string(), "10.0.0.2:443");
  EXPECT_EQ(d.retransmitted, 25U);
  EXPECT_EQ(d.sent, 300U);
  EXPECT_EQ(d.rtt_sockets, 2U);
  EXPECT_DOUBLE_EQ(d.rtt_mean_seconds, 0.004);
  EXPECT_DOUBLE_EQ(d.rtt_max_seconds, 0.006);
  EXPECT_EQ(second.quality_other.retransmitted, 1U);
  EXPECT_EQ(second.quality_other.sent, 70U);
  EXPECT_EQ(second.quality_other.rtt_sockets, 1U);  // the socket without an RTT sample is left out
}

TEST_F(SocketTableAggregatorTest, CountsPortsInUseOnlyForEphemeralLocalPortsTimeWaitIncluded) {
  range.reserved.set(40002);
  const auto s = run({socket(TcpState::kEstablished, "10.0.0.1:40000", "10.0.0.2:443"),
                      socket(TcpState::kTimeWait, "10.0.0.1:40001", "10.0.0.2:443"),
                      socket(TcpState::kSynSent, "10.0.0.1:40003", "10.0.0.2:443"),
                      socket(TcpState::kEstablished, "10.0.0.1:40002", "10.0.0.2:443"),  // reserved
                      socket(TcpState::kEstablished, "10.0.0.1:1000", "10.0.0.2:443"),  // bound low
                      socket(TcpState::kEstablished, "10.0.0.1:61000", "10.0.0.2:443")});  // above
  ASSERT_EQ(s.ports_in_use.size(), 1U);
  EXPECT_EQ(s.ports_in_use[0].in_use, 3U);
  EXPECT_EQ(s.usable_ports, 28232U - 1U);
  EXPECT_DOUBLE_EQ(s.ports_in_use[0].utilization, 3.0 / (28232.0 - 1.0));
}

TEST_F(SocketTableAggregatorTest, ReportsTheBusiestSourceAddressOfADestination) {
  std::vector<SocketRecord> sockets;
  for (int i = 0; i < 5; ++i) {
    const std::string local = "10.0.0.1:" + std::to_string(40000 + i);
    sockets.push_back(socket(TcpState::kTimeWait, local.c_str(), "10.0.0.2:443"));
  }
  for (int i = 0; i < 8; ++i) {
    const std::string local = "10.0.1.1:" + std::to_string(40000 + i);
    sockets.push_back(socket(TcpState::kTimeWait, local.c_str(), "10.0.0.2:443"));
  }
  const auto s = run(sockets);
  ASSERT_EQ(s.ports_in_use.size(), 1U);
  EXPECT_EQ(s.ports_in_use[0].source.to_string(), "10.0.1.1");
  EXPECT_EQ(s.ports_in_use[0].in_use, 8U);
  EXPECT_EQ(s.time_wait[0].sockets, 13U);  // TIME_WAIT per destination counts every source
}

TEST_F(SocketTableAggregatorTest, FoldsDestinationsBeyondTopKIntoOther) {
  std::vector<SocketRecord> sockets;
  // Destination port p gets p-8000 TIME_WAIT sockets: 8001 -> 1, ..., 8005 -> 5.
  int local = 40000;
  for (int p = 8001; p <= 8005; ++p) {
    for (int i = 0; i < p - 8000; ++i) {
      const std::string l = "10.0.0.1:" + std::to_string(local++);
      const std::string r = "10.0.0.2:" + std::to_string(p);
      sockets.push_back(socket(TcpState::kTimeWait, l.c_str(), r.c_str()));
    }
  }
  const auto s = run(sockets, 2);
  ASSERT_EQ(s.time_wait.size(), 2U);
  EXPECT_EQ(s.time_wait[0].destination.to_string(), "10.0.0.2:8005");
  EXPECT_EQ(s.time_wait[1].destination.to_string(), "10.0.0.2:8004");
  EXPECT_EQ(s.time_wait_other, 1U + 2U + 3U);
  EXPECT_EQ(s.time_wait_destinations, 5U);
  ASSERT_EQ(s.ports_in_use.size(), 2U);
  EXPECT_EQ(s.ports_in_use_other, 6U);
  EXPECT_DOUBLE_EQ(s.utilization_other, 3.0 / 28232.0);  // the busiest of those folded
}

TEST_F(SocketTableAggregatorTest, BreaksTiesByDestinationSoTheTopKIsStable) {
  const auto s = run({socket(TcpState::kTimeWait, "10.0.0.1:40001", "10.0.0.3:80"),
                      socket(TcpState::kTimeWait, "10.0.0.1:40002", "10.0.0.2:80"),
                      socket(TcpState::kTimeWait, "10.0.0.1:40003", "10.0.0.4:80")},
                     2);
  ASSERT_EQ(s.time_wait.size(), 2U);
  EXPECT_EQ(s.time_wait[0].destination.to_string(), "10.0.0.2:80");
  EXPECT_EQ(s.time_wait[1].destination.to_string(), "10.0.0.3:80");
}

TEST_F(SocketTableAggregatorTest, SumsDestinationsPastTheTrackingCapIntoOther) {
  std::vector<SocketRecord> sockets;
  for (int p = 1; p <= 10; ++p) {
    const std::string l = "10.0.0.1:" + std::to_string(40000 + p);
    const std::string r = "10.0.0.2:" + std::to_string(p);
    sockets.push_back(socket(TcpState::kTimeWait, l.c_str(), r.c_str()));
  }
  const auto s = run(sockets, 20, 4);
  EXPECT_EQ(s.time_wait.size(), 4U);
  EXPECT_EQ(s.time_wait_other, 6U);
  EXPECT_EQ(s.ports_in_use_other, 6U);
}

TEST_F(SocketTableAggregatorTest, ReportsFullUtilizationWhenEveryPortIsTaken) {
  range.low = 40000;
  range.high = 40003;
  std::vector<SocketRecord> sockets;
  for (int i = 0; i < 4; ++i) {
    const std::string l = "10.0.0.1:" + std::to_string(40000 + i);
    sockets.push_back(socket(TcpState::kTimeWait, l.c_str(), "10.0.0.2:443"));
  }
  const auto s = run(sockets);
  ASSERT_EQ(s.ports_in_use.size(), 1U);
  EXPECT_DOUBLE_EQ(s.ports_in_use[0].utilization, 1.0);
}

TEST(ListeningPorts, CollectsTheLocalPortsOfListeners) {
  ListeningPorts ports;
  ports.on_socket(socket(TcpState::kListen, "0.0.0.0:8080", "0.0.0.0:0"));
  ports.on_socket(socket(TcpState::kEstablished, "10.0.0.1:40000", "10.0.0.2:443"));
  EXPECT_TRUE(ports.ports().test(8080));
  EXPECT_FALSE(ports.ports().test(40000));
  EXPECT_EQ(ports.ports().count(), 1U);
}

}  // namespace
}  // namespace connwatch::kernel
