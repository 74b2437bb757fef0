#include "probes/kernel/socket_owners.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>
#include <vector>

#include "tests/probes/kernel/loopback_sockets.h"

namespace connwatch::kernel {
namespace {

using testing::Fd;
using testing::LoopbackServer;

TEST(SocketOwners, ReadsTheInodeOfASocketLink) {
  EXPECT_EQ(parse_socket_link("socket:[12345]"), 12345U);
  EXPECT_FALSE(parse_socket_link("pipe:[12345]"));
  EXPECT_FALSE(parse_socket_link("socket:[]"));
  EXPECT_FALSE(parse_socket_link("socket:[12a]"));
  EXPECT_FALSE(parse_socket_link("socket:[12"));
  EXPECT_FALSE(parse_socket_link("/dev/null"));
  EXPECT_FALSE(parse_socket_link("anon_inode:[eventpoll]"));
}

TEST(SocketOwners, MatchesInodesToTheProcessesHoldingThem) {
  const std::vector<ProcessSockets> processes = {
      {100, "curl", {7, 8, 9}},
      {200, "nginx", {1, 2}},
      {300, "app", {9, 10, 11, 10}},  // 10 twice: dup()ed, one socket
  };
  const auto owners = match_socket_owners({8, 9, 10, 11, 99}, processes);
  ASSERT_EQ(owners.size(), 2U);
  EXPECT_EQ(owners[0].pid, 300);
  EXPECT_EQ(owners[0].comm, "app");
  EXPECT_EQ(owners[0].sockets, 3U);
  EXPECT_EQ(owners[1].pid, 100);
  EXPECT_EQ(owners[1].sockets, 2U);
}

TEST(SocketOwners, FindsNoOwnersForInodesNobodyHolds) {
  const std::vector<ProcessSockets> processes = {{1, "init", {5}}};
  EXPECT_TRUE(match_socket_owners({6}, processes).empty());
  EXPECT_TRUE(match_socket_owners({}, processes).empty());
}

TEST(SocketOwners, NamesThisProcessAsTheOwnerOfItsLiveSockets) {
  LoopbackServer server;
  ASSERT_TRUE(server.ok());
  std::vector<std::pair<Fd, Fd>> open;
  for (int i = 0; i < 3; ++i) open.push_back(server.connect());
  ASSERT_EQ(server.make_time_wait(4), 4);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));

  DestinationOwners result;
  const auto ec = find_socket_owners(server.endpoint(), result);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(result.live_sockets, 3U);  // the client ends; accepted sockets face the clients
  EXPECT_EQ(result.time_wait_sockets, 4U);
  EXPECT_EQ(result.unattributed_sockets, 0U);
  ASSERT_EQ(result.owners.size(), 1U);
  EXPECT_EQ(result.owners[0].pid, ::getpid());
  EXPECT_EQ(result.owners[0].sockets, 3U);
  std::string comm;
  {
    std::ifstream in("/proc/self/comm");
    std::getline(in, comm);
  }
  EXPECT_EQ(result.owners[0].comm, comm);
}

TEST(SocketOwners, ListsEveryProcessThatSharesASocketAfterFork) {
  LoopbackServer server;
  ASSERT_TRUE(server.ok());
  auto [client, accepted] = server.connect();
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t child = ::fork();
  if (child == 0) {
    // The child inherits the client socket; it waits until the parent closes the pipe.
    ::close(ready[1]);
    char byte;
    (void)!::read(ready[0], &byte, 1);
    ::_exit(0);
  }
  ::close(ready[0]);
  DestinationOwners result;
  ASSERT_FALSE(find_socket_owners(server.endpoint(), result));
  ::close(ready[1]);
  ::waitpid(child, nullptr, 0);
  EXPECT_EQ(result.live_sockets, 1U);
  ASSERT_EQ(result.owners.size(), 2U);
  EXPECT_EQ(result.owners[0].sockets, 1U);
  EXPECT_EQ(result.owners[1].sockets, 1U);
}

}  // namespace
}  // namespace connwatch::kernel
