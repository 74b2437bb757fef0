// ConnectionPool against real loopback sockets: a waiter woken by a release takes the connection
// released, every state change (a new connection's entry included) goes through transition(), a
// pool for tcp:// keeps nothing idle and closes with a FIN, and TCP_INFO reaches the metrics.
#include "probes/active/connection_pool.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <prometheus/registry.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <vector>

#include "io_test_support.h"
#include "loopback_server.h"

namespace connwatch::active {
namespace {

using namespace std::chrono_literals;
using testing::LoopbackServer;
using testing::run_for;
using testing::run_until;
using testing::spawn;

// A loopback port nothing listens on: bound once, then released.
std::uint16_t unused_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), length);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

class PoolTest : public ::testing::Test {
 protected:
  std::shared_ptr<ConnectionPool> make_pool(std::uint16_t port, int max_connections = 4,
                                            bool new_connection_per_probe = false) {
    PoolOptions options;
    options.settings.max_connections = max_connections;
    options.settings.connect_timeout = 2s;
    options.host = "127.0.0.1";
    options.port = port;
    options.new_connection_per_probe = new_connection_per_probe;
    options.talks_first_ok = new_connection_per_probe;
    return ConnectionPool::create(io.get_executor(), std::move(options), metrics);
  }

  std::shared_ptr<std::optional<Lease>> acquire(const std::shared_ptr<ConnectionPool>& pool) {
    return spawn<Lease>(io, [pool]() -> boost::asio::awaitable<Lease> {
      AttemptTimings timings;
      co_return co_await pool->acquire(timings);
    });
  }

  Lease acquire_now(const std::shared_ptr<ConnectionPool>& pool) {
    auto lease = acquire(pool);
    EXPECT_TRUE(run_until(io, [&] { return lease->has_value(); }));
    return lease->value_or(Lease{});
  }

  std::uint64_t closed(CloseReason reason) const {
    return metrics.counts().closed[index_of(reason)];
  }

  prometheus::Registry registry;
  ActiveMetrics families{registry};
  TargetMetrics metrics{families, "t"};
  boost::asio::io_context io;
};

TEST_F(PoolTest, AWaiterWokenByAReleaseTakesTheReleasedConnection) {
  LoopbackServer server({});
  auto pool = make_pool(server.port(), 1);
  const Lease first = acquire_now(pool);
  ASSERT_TRUE(first.connection) << first.error.message();

  auto second = acquire(pool);  // max_connections = 1: waits
  run_for(io, 50ms);
  ASSERT_FALSE(second->has_value());
  pool->release(first.connection, {true, std::nullopt, CloseReason::kError});
  ASSERT_TRUE(run_until(io, [&] { return second->has_value(); }));

  const Lease& lease = **second;
  EXPECT_EQ(lease.connection, first.connection);
  EXPECT_TRUE(lease.reused);
  EXPECT_EQ(metrics.counts().opened, 1U);
  EXPECT_EQ(closed(CloseReason::kIdleTimeout), 0U);
  EXPECT_EQ(server.accepted(), 1);
  pool->stop();
}

TEST_F(PoolTest, EveryStateChangeOfEveryConnectionGoesThroughTransition) {
  LoopbackServer server({});
  auto pool = make_pool(server.port());
  std::map<std::uint64_t, std::vector<std::pair<ConnectionState, ConnectionState>>> seen;
  pool->set_transition_observer([&](std::uint64_t id, ConnectionState from, ConnectionState to,
                                    CloseReason) { seen[id].emplace_back(from, to); });
  const Lease a = acquire_now(pool);
  ASSERT_TRUE(a.connection);
  pool->release(a.connection, {true, std::nullopt, CloseReason::kError});
  const Lease again = acquire_now(pool);
  ASSERT_TRUE(again.reused);
  pool->release(again.connection, {false, std::nullopt, CloseReason::kPeerClosed});

  auto refused = make_pool(unused_port());
  refused->set_transition_observer([&](std::uint64_t id, ConnectionState from, ConnectionState to,
                                       CloseReason) { seen[1000 + id].emplace_back(from, to); });
  const Lease failed = acquire_now(refused);
  EXPECT_FALSE(failed.connection);

  using S = ConnectionState;
  const std::vector<std::pair<S, S>> reused{{S::kNew, S::kConnecting},
                                            {S::kConnecting, S::kBusy},
                                            {S::kBusy, S::kIdle},
                                            {S::kIdle, S::kBusy},
                                            {S::kBusy, S::kClosed}};
  const std::vector<std::pair<S, S>> never_connected{{S::kNew, S::kConnecting},
                                                     {S::kConnecting, S::kClosed}};
  ASSERT_EQ(seen.size(), 2U);
  EXPECT_EQ(seen[a.connection->id()], reused);
  EXPECT_EQ(seen[1001], never_connected);
  pool->stop();
}

TEST_F(PoolTest, ATcpPoolDialsEveryTimeAndClosesWithAFinEvenAfterALateBanner) {
  // The banner arrives after the probe is done: a plain close() would answer it with an RST.
  LoopbackServer server({.responder = {}, .banner = "SSH-2.0-test\r\n", .banner_delay = 30ms});
  auto pool = make_pool(server.port(), 4, true);
  for (int i = 0; i < 3; ++i) {
    const Lease lease = acquire_now(pool);
    ASSERT_TRUE(lease.connection) << lease.error.message();
    EXPECT_FALSE(lease.reused);
    pool->release(lease.connection, {true, std::nullopt, CloseReason::kError});
    EXPECT_EQ(pool->view().idle, 0);
  }
  ASSERT_TRUE(run_until(io, [&] { return server.fins() + server.resets() == 3; }));
  EXPECT_EQ(server.accepted(), 3);
  EXPECT_EQ(server.fins(), 3);
  EXPECT_EQ(server.resets(), 0);
  EXPECT_EQ(metrics.counts().opened, 3U);
  EXPECT_EQ(closed(CloseReason::kIdleTimeout), 3U);
  pool->stop();
}

TEST_F(PoolTest, TcpInfoGivesTheConnectionsRttAndNoRetransmitsOnLoopback) {
  LoopbackServer server({});
  auto pool = make_pool(server.port());
  const Lease lease = acquire_now(pool);
  ASSERT_TRUE(lease.connection);
  pool->record_tcp_info(*lease.connection);
  ASSERT_TRUE(metrics.counts().tcp_rtt_seconds.has_value());
  EXPECT_GT(*metrics.counts().tcp_rtt_seconds, 0.0);
  EXPECT_LT(*metrics.counts().tcp_rtt_seconds, 0.1);
  EXPECT_EQ(metrics.counts().tcp_retransmits, 0U);
  pool->stop();
}

}  // namespace
}  // namespace connwatch::active
