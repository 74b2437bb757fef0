// The sock_diag collector against real sockets: loopback connections this test opens and closes in
// its own process (no namespaces needed, root or not), read back through the kernel's tables.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "probes/kernel/collectors.h"
#include "probes/kernel/kernel_snapshot.h"
#include "probes/kernel/sock_diag_parser.h"
#include "probes/kernel/sock_diag_socket.h"
#include "tests/probes/kernel/loopback_sockets.h"

namespace connwatch::kernel {
namespace {

using testing::Fd;
using testing::LoopbackServer;

KernelOptions every_destination() {
  KernelOptions o;
  o.max_destinations = 1'000'000;  // list every destination: other processes share these tables
  return o;
}

KernelSnapshot collect() {
  KernelSnapshot s;
  EXPECT_FALSE(collect_port_range(every_destination(), s));
  const auto ec = collect_sock_diag(every_destination(), s);
  EXPECT_FALSE(ec) << ec.message();
  return s;
}

std::uint64_t time_wait_to(const KernelSnapshot& s, const Endpoint& destination) {
  for (const auto& d : s.sockets->time_wait) {
    if (d.destination == destination) return d.sockets;
  }
  return 0;
}

std::uint64_t ports_in_use_to(const KernelSnapshot& s, const Endpoint& destination) {
  for (const auto& d : s.sockets->ports_in_use) {
    if (d.destination == destination) return d.in_use;
  }
  return 0;
}

// A listener whose address no socket on the host talks to yet: a port the kernel hands out may
// still have TIME_WAIT sockets pointing at it from an earlier listener that had it.
std::unique_ptr<LoopbackServer> fresh_server(bool ipv6 = false) {
  for (int attempt = 0; attempt < 10; ++attempt) {
    auto server = std::make_unique<LoopbackServer>(ipv6);
    if (!server->ok()) return nullptr;
    const auto s = collect();
    if (ports_in_use_to(s, server->endpoint()) == 0 && time_wait_to(s, server->endpoint()) == 0) {
      return server;
    }
  }
  return nullptr;
}

// Loopback delivers the final FIN in softirq context shortly after close(); wait for it, bounded.
KernelSnapshot collect_until(const Endpoint& destination, std::uint64_t time_wait) {
  KernelSnapshot s;
  for (int i = 0; i < 100; ++i) {
    s = collect();
    if (time_wait_to(s, destination) >= time_wait) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return s;
}

TEST(SockDiagCollector, SeesClientFirstClosesAsTimeWaitToTheirDestination) {
  auto server = fresh_server();
  ASSERT_TRUE(server);
  const auto before = collect();
  ASSERT_EQ(server->make_time_wait(40), 40);
  const auto after = collect_until(server->endpoint(), 40);
  EXPECT_EQ(time_wait_to(after, server->endpoint()), 40U);
  EXPECT_GE(after.sockets->count(TcpState::kTimeWait), 40U);
  EXPECT_GE(before.sockets->count(TcpState::kListen), 1U);
}

// Every socket touching the server's port, by state, straight from a dump of both families.
std::map<TcpState, int> states_at(std::uint16_t port) {
  struct Recorder final : SocketVisitor {
    void on_socket(const SocketRecord& s) override {
      if (s.local.port == port || s.remote.port == port) ++states[s.state];
    }
    std::uint16_t port = 0;
    std::map<TcpState, int> states;
  } recorder;
  recorder.port = port;
  const auto ec = read_sock_diag(all_states_mask(), recorder);
  EXPECT_FALSE(ec) << ec.message();
  return recorder.states;
}

TEST(SockDiagCollector, CountsBothEndsOfEstablishedConnectionsByState) {
  auto server = fresh_server();
  ASSERT_TRUE(server);
  std::vector<std::pair<Fd, Fd>> open;
  for (int i = 0; i < 5; ++i) open.push_back(server->connect());
  auto states = states_at(server->port());
  EXPECT_EQ(states[TcpState::kListen], 1);
  EXPECT_EQ(states[TcpState::kEstablished], 10);
  const auto s = collect();
  EXPECT_GE(s.sockets->count(TcpState::kEstablished), 10U);
  EXPECT_EQ(ports_in_use_to(s, server->endpoint()), 5U);  // client ends only
  EXPECT_EQ(time_wait_to(s, server->endpoint()), 0U);
}

TEST(SockDiagCollector, SeesAHalfClosedConnectionAsFinWait2AndCloseWait) {
  auto server = fresh_server();
  ASSERT_TRUE(server);
  auto [client, accepted] = server->connect();
  ASSERT_EQ(::shutdown(client.get(), SHUT_WR), 0);
  std::map<TcpState, int> states;
  for (int i = 0; i < 100 && states[TcpState::kFinWait2] == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    states = states_at(server->port());
  }
  EXPECT_EQ(states[TcpState::kFinWait2], 1);
  EXPECT_EQ(states[TcpState::kCloseWait], 1);
  EXPECT_EQ(states[TcpState::kEstablished], 0);
}

TEST(SockDiagCollector, CountsEphemeralPortsInUseTimeWaitIncluded) {
  auto server = fresh_server();
  ASSERT_TRUE(server);
  std::vector<std::pair<Fd, Fd>> open;
  for (int i = 0; i < 3; ++i) open.push_back(server->connect());
  ASSERT_EQ(server->make_time_wait(20), 20);
  const auto s = collect_until(server->endpoint(), 20);
  EXPECT_EQ(ports_in_use_to(s, server->endpoint()), 23U);
  for (const auto& d : s.sockets->ports_in_use) {
    if (d.destination != server->endpoint()) continue;
    EXPECT_EQ(d.source.to_string(), "127.0.0.1");
    EXPECT_DOUBLE_EQ(d.utilization, 23.0 / static_cast<double>(s.port_range->usable()));
  }
}

TEST(SockDiagCollector, NamesIpv6DestinationsInBrackets) {
  auto server = fresh_server(/*ipv6=*/true);
  if (!server) GTEST_SKIP() << "no IPv6 loopback (::1) in this network namespace";
  ASSERT_EQ(server->make_time_wait(7), 7);
  const auto s = collect_until(server->endpoint(), 7);
  EXPECT_EQ(time_wait_to(s, server->endpoint()), 7U);
  EXPECT_EQ(server->endpoint().to_string(), "[::1]:" + std::to_string(server->port()));
}

TEST(SockDiagCollector, AgreesWithSsOnTheTimeWaitOfADestination) {
  auto server = fresh_server();
  ASSERT_TRUE(server);
  ASSERT_EQ(server->make_time_wait(25), 25);
  const auto s = collect_until(server->endpoint(), 25);
  const std::string command =
      "ss -Htan state time-wait dst 127.0.0.1:" + std::to_string(server->port()) +
      " 2>/dev/null | wc -l";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) GTEST_SKIP() << "cannot run ss";
  unsigned long ss_count = 0;
  const int fields = std::fscanf(pipe, "%lu", &ss_count);
  if (::pclose(pipe) != 0 || fields != 1) GTEST_SKIP() << "ss (iproute2) not available";
  EXPECT_EQ(time_wait_to(s, server->endpoint()), ss_count);
  EXPECT_EQ(ss_count, 25U);
}

}  // namespace
}  // namespace connwatch::kernel
