// The connect tracepoint's trace_pipe lines and /proc/self/mountinfo, as real kernels print them
// (6.18 with record-tgid; older kernels without the tgid column), and the tracer itself on the
// host's tracefs where the test may use it.
#include "probes/kernel/connect_trace.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>

namespace connwatch::kernel {
namespace {

constexpr const char* kV4 =
    "         python3-5574    (   5574) [001] .....   288.038413: inet_sock_set_state: "
    "family=AF_INET protocol=IPPROTO_TCP sport=0 dport=8390 saddr=10.0.0.1 daddr=10.0.0.2 "
    "saddrv6=::ffff:10.0.0.1 daddrv6=::ffff:10.0.0.2 oldstate=TCP_CLOSE newstate=TCP_SYN_SENT";

TEST(ConnectTrace, ParsesTheCallerAndTheDestination) {
  const auto e = parse_connect_trace_line(kV4);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->tid, 5574);
  EXPECT_EQ(e->tgid, 5574);
  EXPECT_EQ(e->comm, "python3");
  EXPECT_EQ(e->destination.to_string(), "10.0.0.2:8390");
}

TEST(ConnectTrace, ACommWithSpacesAndDashesAndAThreadOfAnotherProcess) {
  const auto e = parse_connect_trace_line(
      "  my-app worker-1-12 (     70) [000] d..1. 12.500000: inet_sock_set_state: "
      "family=AF_INET6 protocol=IPPROTO_TCP sport=0 dport=443 saddr=0.0.0.0 daddr=0.0.0.0 "
      "saddrv6=:: daddrv6=2001:db8::5 oldstate=TCP_CLOSE newstate=TCP_SYN_SENT");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->comm, "my-app worker-1");
  EXPECT_EQ(e->tid, 12);
  EXPECT_EQ(e->tgid, 70);
  EXPECT_EQ(e->destination.to_string(), "[2001:db8::5]:443");
}

TEST(ConnectTrace, WithoutATgidColumnTheTgidIsLeftToProc) {
  for (const char* head :
       {"  nginx-900 [003] .... 1.0: ", "  nginx-900 (-------) [003] .... 1.0: "}) {
    const auto e = parse_connect_trace_line(
        std::string(head) +
        "inet_sock_set_state: family=AF_INET protocol=IPPROTO_TCP sport=0 dport=80 "
        "saddr=127.0.0.1 daddr=127.0.0.1 saddrv6=::1 daddrv6=::1 oldstate=TCP_CLOSE "
        "newstate=TCP_SYN_SENT");
    ASSERT_TRUE(e) << head;
    EXPECT_EQ(e->tid, 900);
    EXPECT_EQ(e->tgid, 0);
    EXPECT_EQ(e->destination.to_string(), "127.0.0.1:80");
  }
}

TEST(ConnectTrace, AV4MappedDestinationOfADualStackSocketIsTheV4One) {
  const auto e = parse_connect_trace_line(
      "  java-1 (1) [0] .... 1.0: inet_sock_set_state: family=AF_INET6 protocol=IPPROTO_TCP "
      "sport=0 dport=80 saddr=0.0.0.0 daddr=0.0.0.0 saddrv6=:: daddrv6=::ffff:10.1.2.3 "
      "oldstate=TCP_CLOSE newstate=TCP_SYN_SENT");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->destination.to_string(), "10.1.2.3:80");
}

TEST(ConnectTrace, OtherTransitionsProtocolsAndBrokenLinesAreNotConnects) {
  std::string line = kV4;
  for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
           {"newstate=TCP_SYN_SENT", "newstate=TCP_ESTABLISHED"},
           {"oldstate=TCP_CLOSE", "oldstate=TCP_LISTEN"},
           {"IPPROTO_TCP", "IPPROTO_MPTCP"},
           {"dport=8390", "dport=0"},
           {"dport=8390", "dport=70000"},
           {"daddr=10.0.0.2", "daddr=10.0.0"},
           {"python3-5574", "python3-"},
           {"[001]", "001"},
           {"inet_sock_set_state:", "tcp_probe:"}}) {
    std::string changed = line;
    changed.replace(changed.find(from), from.size(), to);
    EXPECT_FALSE(parse_connect_trace_line(changed)) << changed;
  }
  for (std::size_t n = 0; n < line.size(); ++n) {
    (void)parse_connect_trace_line(std::string_view(line).substr(0, n));  // never reads past
  }
  EXPECT_FALSE(parse_connect_trace_line(""));
}

TEST(ConnectTrace, FindsTracefsInMountinfo) {
  EXPECT_EQ(
      tracefs_mount_point(
          "25 30 0:6 / /sys/kernel/debug rw,nosuid - debugfs debugfs rw\n"
          "36 25 0:12 / /sys/kernel/tracing rw,nosuid,nodev shared:15 - tracefs tracefs rw\n"),
      std::filesystem::path("/sys/kernel/tracing"));
  EXPECT_EQ(tracefs_mount_point("40 25 0:12 / /sys/kernel/debug/tracing rw - tracefs tracefs rw"),
            std::filesystem::path("/sys/kernel/debug/tracing"));
  EXPECT_FALSE(tracefs_mount_point("36 25 0:12 /instances /mnt rw - tracefs tracefs rw\n"));
  EXPECT_FALSE(tracefs_mount_point("25 30 0:6 / /sys/kernel/debug rw - debugfs debugfs rw\n"));
  EXPECT_FALSE(tracefs_mount_point(""));
}

// The tracer on this host: every connect() of this process to a listening loopback port is one
// event with this process's pid. Needs root and tracefs; skips with the reason otherwise.
TEST(ConnectTrace, CountsEveryConnectOfThisProcess) {
  ConnectTracer tracer;
  if (const auto ec = ConnectTracer::open(tracer)) {
    GTEST_SKIP() << "connect tracepoint unavailable here: " << ec.message();
  }
  const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(listener, 64), 0);
  socklen_t len = sizeof a;
  ::getsockname(listener, reinterpret_cast<sockaddr*>(&a), &len);
  constexpr int kConnects = 25;
  for (int i = 0; i < kConnects; ++i) {
    const int s = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_EQ(::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ::close(s);
  }
  const std::string destination = "127.0.0.1:" + std::to_string(ntohs(a.sin_port));
  std::vector<ConnectEvent> events;
  int mine = 0;
  for (int tries = 0; tries < 50 && mine < kConnects; ++tries) {
    events.clear();
    ASSERT_FALSE(tracer.read(events));
    for (const auto& e : events) {
      if (e.destination.to_string() == destination) {
        EXPECT_EQ(e.tgid == 0 ? e.tid : e.tgid, ::getpid());  // record-tgid fills at sched_switch
        ++mine;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(mine, kConnects);
  EXPECT_EQ(tracer.overruns(), 0U);
  ::close(listener);
  tracer.close();
  EXPECT_FALSE(tracer.is_open());
}

// Two runs at once: the first closes first; the second still removes its own instance (each
// reaches tracefs through its own descriptor, never through a mount another run may take away),
// so no enabled instance is left behind in the kernel.
TEST(ConnectTrace, EachRunRemovesItsOwnInstanceWhateverTheOtherDoes) {
  ConnectTracer first;
  if (const auto ec = ConnectTracer::open(first)) {
    GTEST_SKIP() << "connect tracepoint unavailable here: " << ec.message();
  }
  ConnectTraceOptions options;
  options.instance = "connwatch-1";  // pid 1 lives: no other run takes it for a dead one's
  ConnectTracer second;
  ASSERT_FALSE(ConnectTracer::open(second, options));
  first.close();
  second.close();

  ConnectTracer look;  // its instances directory is the same tracefs, whoever mounted it
  ASSERT_FALSE(ConnectTracer::open(look));
  const auto leftover = look.instance_dir().parent_path() / options.instance;
  const bool left = std::filesystem::exists(leftover);
  if (left) ::rmdir(leftover.c_str());
  EXPECT_FALSE(left) << leftover;
}

}  // namespace
}  // namespace connwatch::kernel
