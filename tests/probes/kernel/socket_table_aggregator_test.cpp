#include "probes/kernel/socket_table_aggregator.h"

#include <gtest/gtest.h>

#include <string>

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

TEST_F(SocketTableAggregatorTest, LeavesAcceptedSocketsOfLocalListenersOutOfDestinations) {
  listening.set(8080);
  // A server on 8080 that closed first: its TIME_WAIT faces a client's ephemeral port.
  const auto s = run({socket(TcpState::kTimeWait, "10.0.0.1:8080", "10.0.0.9:51000"),
                      socket(TcpState::kEstablished, "10.0.0.1:8080", "10.0.0.9:51001"),
                      socket(TcpState::kTimeWait, "10.0.0.1:40000", "10.0.0.2:443")});
  EXPECT_EQ(s.count(TcpState::kTimeWait), 2U);  // still counted by state
  ASSERT_EQ(s.time_wait.size(), 1U);
  EXPECT_EQ(s.time_wait[0].destination.to_string(), "10.0.0.2:443");
  ASSERT_EQ(s.ports_in_use.size(), 1U);
  EXPECT_EQ(s.ports_in_use[0].destination.to_string(), "10.0.0.2:443");
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
