// LiveCapture against real traffic and real interfaces, inside a network namespace this test
// creates (unshare): loopback connections made in-process, and a veth pair that comes and goes.
// Needs root (CAP_SYS_ADMIN for the namespace, CAP_NET_RAW for capture); skips otherwise.
#include "probes/passive/live_capture.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <prometheus/registry.h>
#include <sched.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <sys/capability.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

#include "probes/passive/packet_fanout.h"

namespace connwatch::passive {
namespace {

using namespace std::chrono_literals;

// Moves the calling thread (and every thread it starts) into a fresh network namespace with lo
// up; the destructor moves it back. All traffic of these tests stays inside.
class PrivateNetwork {
 public:
  PrivateNetwork() {
    if (geteuid() != 0) {
      reason_ = "needs root for a private network namespace and packet capture";
      return;
    }
    original_ = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (original_ < 0 || unshare(CLONE_NEWNET) != 0) {
      reason_ = std::string("unshare(CLONE_NEWNET) failed: ") + std::strerror(errno);
      return;
    }
    const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ifreq request{};
    std::strncpy(request.ifr_name, "lo", IFNAMSIZ - 1);
    ioctl(fd, SIOCGIFFLAGS, &request);
    request.ifr_flags = static_cast<short>(request.ifr_flags | IFF_UP);
    const bool up = ioctl(fd, SIOCSIFFLAGS, &request) == 0;
    close(fd);
    if (!up) reason_ = "cannot bring lo up in the private namespace";
  }
  ~PrivateNetwork() {
    if (original_ >= 0) {
      setns(original_, CLONE_NEWNET);
      close(original_);
    }
  }
  bool ready() const { return reason_.empty(); }
  const std::string& reason() const { return reason_; }

  // Runs an ip(8) command in this namespace (children inherit the calling thread's namespace).
  static bool ip(const std::string& args) {
    return std::system(("ip " + args + " >/dev/null 2>&1").c_str()) == 0;
  }

 private:
  int original_ = -1;
  std::string reason_;
};

#define REQUIRE_PRIVATE_NETWORK(net) \
  PrivateNetwork net;                \
  if (!net.ready()) GTEST_SKIP() << net.reason()

// Tcp OutRsts of this namespace (/proc/net/snmp): every RST the kernel sent, the independent
// count the capture must match.
std::uint64_t out_rsts() {
  std::ifstream snmp("/proc/thread-self/net/snmp");
  std::string header;
  std::string values;
  std::string line;
  while (std::getline(snmp, line)) {
    if (line.rfind("Tcp:", 0) == 0) {
      if (header.empty()) {
        header = line;
      } else {
        values = line;
      }
    }
  }
  std::istringstream names(header);
  std::istringstream numbers(values);
  std::string name;
  std::string number;
  while (names >> name && numbers >> number) {
    if (name == "OutRsts") return std::stoull(number);
  }
  return 0;
}

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

int connect_to(std::uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const sockaddr_in address = loopback(port);
  if (connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
    const int error = errno;
    close(fd);
    errno = error;
    return -1;
  }
  return fd;
}

// A listener that handles `count` connections with `handle` on its own thread.
class Server {
 public:
  Server(std::uint16_t port, int count, std::function<void(int)> handle) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int one = 1;
    setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    const sockaddr_in address = loopback(port);
    bind(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof(address));
    listen(fd_, 16);
    thread_ = std::thread([this, count, handle = std::move(handle)] {
      for (int i = 0; i < count; ++i) {
        const int connection = accept(fd_, nullptr, nullptr);
        if (connection < 0) return;
        handle(connection);
      }
    });
  }
  ~Server() {
    thread_.join();
    close(fd_);
  }

 private:
  int fd_ = -1;
  std::thread thread_;
};

void abort_connection(int fd) {
  const linger hard{1, 0};  // close() sends RST instead of FIN
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &hard, sizeof(hard));
  close(fd);
}

void close_after_peer(int fd) {
  char buffer[64];
  while (recv(fd, buffer, sizeof(buffer), 0) > 0) {
  }
  close(fd);
}

// Polls until `done` or the timeout; capture hands blocks over every pcap timeout (250 ms).
bool eventually(const std::function<bool()>& done, std::chrono::milliseconds timeout = 5s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return done();
}

CaptureOptions fast_retry(const std::string& interface) {
  CaptureOptions options;
  options.interface = interface;
  options.retry_initial = 100ms;
  options.retry_max = 400ms;
  return options;
}

void counts_connections_on(const std::string& interface, int threads = 1) {
  constexpr int kRefused = 5;
  constexpr int kAborted = 4;
  constexpr int kClosed = 3;
  prometheus::Registry registry;
  PassiveMetrics metrics(registry, {});
  CaptureOptions options = fast_retry(interface);
  options.threads = threads;
  LiveCapture live(options, {}, &metrics);
  ASSERT_TRUE(live.start()) << live.last_error();
  ASSERT_EQ(live.threads(), static_cast<std::size_t>(threads));
  const std::uint64_t rsts_before = out_rsts();

  for (int i = 0; i < kRefused; ++i) {
    ASSERT_EQ(connect_to(18089), -1);
    ASSERT_EQ(errno, ECONNREFUSED);
  }
  {
    Server server(18081, kAborted, abort_connection);
    for (int i = 0; i < kAborted; ++i) {
      const int fd = connect_to(18081);
      char byte;
      if (fd >= 0) {
        EXPECT_LE(recv(fd, &byte, 1, 0), 0);  // ECONNRESET (or EOF if the RST raced connect)
        close(fd);
      }
    }
  }
  {
    Server server(18080, kClosed, close_after_peer);
    for (int i = 0; i < kClosed; ++i) {
      const int fd = connect_to(18080);
      ASSERT_GE(fd, 0);
      ASSERT_EQ(send(fd, "ping", 4, 0), 4);
      shutdown(fd, SHUT_WR);  // our FIN first: this side is the active closer
      char buffer[16];
      while (recv(fd, buffer, sizeof(buffer), 0) > 0) {
      }
      close(fd);
    }
  }
  const std::uint64_t rsts_sent = out_rsts() - rsts_before;
  // A RST after a completed close is possible (TIME_WAIT answering a late ACK); whatever the
  // kernel sent, the capture must have seen exactly that.
  const std::uint64_t stray = rsts_sent - kRefused - kAborted;

  ASSERT_TRUE(eventually([&] {
    const PassiveSnapshot s = live.snapshot();
    return s.closes[index_of(CloseHow::kFin)] == kClosed && s.resets_total() == rsts_sent;
  })) << nlohmann::json(to_json(live.snapshot())).dump();
  std::this_thread::sleep_for(600ms);  // nothing more may arrive
  const PassiveSnapshot s = live.snapshot();
  EXPECT_EQ(s.packets, 2u * kRefused + 3u * kAborted + 4u * kClosed + stray);
  EXPECT_EQ(s.connections, std::uint64_t{kAborted + kClosed});
  EXPECT_EQ(s.resets[index_of(ResetSender::kServer)][index_of(ResetPhase::kHandshake)],
            std::uint64_t{kRefused});
  EXPECT_EQ(s.resets[index_of(ResetSender::kServer)][index_of(ResetPhase::kEstablished)],
            std::uint64_t{kAborted});
  EXPECT_EQ(s.resets_by_phase(ResetPhase::kClosing), stray);
  EXPECT_EQ(s.resets_total(), rsts_sent);
  EXPECT_EQ(s.time_wait_entries[index_of(TimeWaitSide::kClient)], std::uint64_t{kClosed});
  EXPECT_EQ(s.time_wait_entries[index_of(TimeWaitSide::kServer)], 0u);
  EXPECT_EQ(s.closes[index_of(CloseHow::kReset)], std::uint64_t{kRefused + kAborted});
  EXPECT_EQ(s.truncated + s.malformed + s.duplicates, 0u);
  EXPECT_TRUE(s.capture_up);
  // The same numbers reached Prometheus.
  EXPECT_EQ(metrics.capture_up().Value(), 1);
  EXPECT_EQ(metrics.packets().Value(), static_cast<double>(s.packets));
  EXPECT_EQ(metrics.flows().Value(), static_cast<double>(s.flows));  // all threads' flows
  live.stop();
  EXPECT_EQ(metrics.capture_up().Value(), 0);
}

// Two handles in one PACKET_FANOUT group: the same counts as one thread (and on lo, where libpcap
// sees each packet once, nothing counted twice).
TEST(LiveCapture, CountsTheSameOnTwoThreads) {
  REQUIRE_PRIVATE_NETWORK(net);
  counts_connections_on("lo", 2);
}

TEST(LiveCapture, RefusesSeveralThreadsOnAnyWithTheReason) {
  prometheus::Registry registry;
  PassiveMetrics metrics(registry, {});
  CaptureOptions options = fast_retry("any");
  options.threads = 2;
  LiveCapture live(options, {}, &metrics);
  EXPECT_FALSE(live.start());
  EXPECT_NE(live.last_error().find("needs a named interface"), std::string::npos)
      << live.last_error();
  // Nor do the threads' retries open it.
  std::this_thread::sleep_for(300ms);
  EXPECT_FALSE(live.up());
  EXPECT_EQ(metrics.capture_up().Value(), 0);
}

// A bound AF_PACKET socket on lo, as pcap_activate leaves one.
int packet_socket_on_lo() {
  const int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
  sockaddr_ll address{};
  address.sll_family = AF_PACKET;
  address.sll_protocol = htons(ETH_P_ALL);
  address.sll_ifindex = static_cast<int>(if_nametoindex("lo"));
  if (fd >= 0 && bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

TEST(PacketFanout, MembersJoinTheNewGroupAndAnotherModesGroupIsRefusedWithTheReason) {
  REQUIRE_PRIVATE_NETWORK(net);
  const int first = packet_socket_on_lo();
  const int second = packet_socket_on_lo();
  const int other = packet_socket_on_lo();
  ASSERT_GE(first, 0);
  ASSERT_GE(second, 0);
  ASSERT_GE(other, 0);
  // Someone else's group on lo, load-balancing (another mode), made first.
  const int lb = (PACKET_FANOUT_LB << 16) | 4242;
  ASSERT_EQ(setsockopt(other, SOL_PACKET, PACKET_FANOUT, &lb, sizeof(lb)), 0);

  std::error_code error;
  const std::optional<std::uint16_t> id = create_fanout_group(first, error);
  ASSERT_TRUE(id) << error.message();
  EXPECT_NE(*id, 4242);  // a free id, not the other group's
  EXPECT_FALSE(join_fanout_group(second, *id));
  int joined = 0;
  socklen_t size = sizeof(joined);
  ASSERT_EQ(getsockopt(second, SOL_PACKET, PACKET_FANOUT, &joined, &size), 0);
  EXPECT_EQ(joined & 0xffff, *id);
  EXPECT_EQ((joined >> 16) & 0xff, PACKET_FANOUT_HASH);

  const int late = packet_socket_on_lo();
  const std::error_code refused = join_fanout_group(late, 4242);
  EXPECT_EQ(refused.value(), EINVAL);
  EXPECT_NE(fanout_error_text(refused, 4242).find("PACKET_FANOUT group 4242: Invalid argument"),
            std::string::npos)
      << fanout_error_text(refused, 4242);
  for (const int fd : {first, second, other, late}) close(fd);
}

TEST(LiveCapture, CountsRefusedResetAndClosedConnectionsOnAny) {
  REQUIRE_PRIVATE_NETWORK(net);
  counts_connections_on("any");
}

TEST(LiveCapture, CountsRefusedResetAndClosedConnectionsOnLo) {
  REQUIRE_PRIVATE_NETWORK(net);
  counts_connections_on("lo");
}

TEST(LiveCapture, KeepsRunningDownUntilTheInterfaceAppearsAndComesBackAfterItIsDeleted) {
  REQUIRE_PRIVATE_NETWORK(net);
  prometheus::Registry registry;
  PassiveMetrics metrics(registry, {});
  LiveCapture live(fast_retry("cwtest0"), {}, &metrics);
  EXPECT_FALSE(live.start());
  EXPECT_FALSE(live.up());
  EXPECT_NE(live.last_error().find("No such device"), std::string::npos) << live.last_error();
  EXPECT_EQ(metrics.capture_up().Value(), 0);

  ASSERT_TRUE(PrivateNetwork::ip("link add cwtest0 type veth peer name cwtest1"));
  ASSERT_TRUE(PrivateNetwork::ip("link set cwtest0 up"));
  ASSERT_TRUE(PrivateNetwork::ip("link set cwtest1 up"));
  EXPECT_TRUE(eventually([&] { return live.up(); })) << live.last_error();
  EXPECT_EQ(metrics.capture_up().Value(), 1);
  EXPECT_EQ(live.last_error(), "");

  ASSERT_TRUE(PrivateNetwork::ip("link del cwtest0"));
  EXPECT_TRUE(eventually([&] { return !live.up(); }));
  EXPECT_EQ(metrics.capture_up().Value(), 0);
  EXPECT_FALSE(live.last_error().empty());

  ASSERT_TRUE(PrivateNetwork::ip("link add cwtest0 type veth peer name cwtest1"));
  ASSERT_TRUE(PrivateNetwork::ip("link set cwtest0 up"));
  EXPECT_TRUE(eventually([&] { return live.up(); })) << live.last_error();
  EXPECT_EQ(metrics.capture_up().Value(), 1);
}

TEST(LiveCapture, WarnsOncePerOutageNotOncePerRetry) {
  REQUIRE_PRIVATE_NETWORK(net);
  std::ostringstream log;
  auto logger = std::make_shared<spdlog::logger>(
      "passive-test", std::make_shared<spdlog::sinks::ostream_sink_mt>(log));
  const auto previous = spdlog::default_logger();
  spdlog::set_default_logger(logger);
  {
    LiveCapture live(fast_retry("cwtest9"), {}, nullptr);
    live.start();
    std::this_thread::sleep_for(1500ms);  // 100 + 200 + 400 + 400 ms: several retries
  }
  spdlog::set_default_logger(previous);
  const std::string text = log.str();
  std::size_t warnings = 0;
  for (std::size_t at = text.find("[warning]"); at != std::string::npos;
       at = text.find("[warning]", at + 1)) {
    ++warnings;
  }
  EXPECT_EQ(warnings, 1u) << text;
  EXPECT_NE(text.find("cwtest9"), std::string::npos) << text;
}

TEST(LiveCapture, StopsWithinOneSecond) {
  REQUIRE_PRIVATE_NETWORK(net);
  LiveCapture live(fast_retry("any"), {}, nullptr);
  ASSERT_TRUE(live.start()) << live.last_error();
  std::this_thread::sleep_for(300ms);
  const auto begin = std::chrono::steady_clock::now();
  live.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 1s);
  EXPECT_FALSE(live.up());
}

TEST(LiveCapture, StaysDownWithTheReasonWithoutCapNetRaw) {
  REQUIRE_PRIVATE_NETWORK(net);
  // Capabilities are per thread: drop CAP_NET_RAW from this thread's effective set (the capture
  // thread inherits it), restore it afterwards.
  cap_t caps = cap_get_proc();
  const cap_value_t net_raw[] = {CAP_NET_RAW};
  cap_set_flag(caps, CAP_EFFECTIVE, 1, net_raw, CAP_CLEAR);
  ASSERT_EQ(cap_set_proc(caps), 0);
  {
    LiveCapture live(fast_retry("lo"), {}, nullptr);
    EXPECT_FALSE(live.start());
    std::this_thread::sleep_for(300ms);
    EXPECT_FALSE(live.up());
    EXPECT_NE(live.last_error().find("ermission"), std::string::npos) << live.last_error();
  }
  cap_set_flag(caps, CAP_EFFECTIVE, 1, net_raw, CAP_SET);
  cap_set_proc(caps);
  cap_free(caps);
}

}  // namespace
}  // namespace connwatch::passive
