// Builds a known set of TCP sockets in the current network namespace, then records the kernel's raw
// sock_diag replies (every datagram, concatenated) as parser test data. Run it in a fresh namespace
// so nothing else shows up: testdata/capture.sh does `unshare --net`.
//
//   capture-sock-diag OUTDIR
//
// The scenario (the parser tests assert on exactly this):
//   IPv4: listener 127.0.0.1:8080; 3 established connections to it (6 established sockets);
//         500 client-first closes to it (500 time_wait); 7 client-first closes to 127.0.0.2:9090
//         (listener closed afterwards: 7 time_wait); one half-closed pair (client shut down its
//         side, server did not: fin_wait2 + close_wait).
//   IPv6: listener [::1]:8443; 1 established connection (2 established); 2 client-first closes
//         (2 time_wait).
// sock_diag_v4_info.bin is the IPv4 dump once more with INET_DIAG_INFO asked for (tcp_info with
// every full socket), after 64 KiB went each way over the first established pair, so its RTT has
// been sampled and it has sent segments.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "probes/kernel/sock_diag_parser.h"
#include "probes/kernel/sock_diag_socket.h"

namespace {

using connwatch::kernel::IpFamily;

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "capture-sock-diag: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

sockaddr_storage address(IpFamily family, const char* ip, std::uint16_t port, socklen_t& len) {
  sockaddr_storage ss{};
  if (family == IpFamily::kIpv4) {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    inet_pton(AF_INET, ip, &a->sin_addr);
    len = sizeof(sockaddr_in);
  } else {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(port);
    inet_pton(AF_INET6, ip, &a->sin6_addr);
    len = sizeof(sockaddr_in6);
  }
  return ss;
}

int listener(IpFamily family, const char* ip, std::uint16_t port) {
  const int fd = socket(family == IpFamily::kIpv4 ? AF_INET : AF_INET6, SOCK_STREAM, 0);
  if (fd < 0) die("socket");
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  socklen_t len = 0;
  const auto ss = address(family, ip, port, len);
  if (bind(fd, reinterpret_cast<const sockaddr*>(&ss), len) != 0) die("bind");
  if (listen(fd, 1024) != 0) die("listen");
  return fd;
}

// Returns {client, server}.
std::pair<int, int> connect_pair(int listen_fd, IpFamily family, const char* ip,
                                 std::uint16_t port) {
  const int c = socket(family == IpFamily::kIpv4 ? AF_INET : AF_INET6, SOCK_STREAM, 0);
  if (c < 0) die("socket");
  socklen_t len = 0;
  const auto ss = address(family, ip, port, len);
  if (connect(c, reinterpret_cast<const sockaddr*>(&ss), len) != 0) die("connect");
  const int s = accept(listen_fd, nullptr, nullptr);
  if (s < 0) die("accept");
  return {c, s};
}

// Client closes first, then the server: the client ends in TIME_WAIT.
void churn(int listen_fd, IpFamily family, const char* ip, std::uint16_t port, int n) {
  for (int i = 0; i < n; ++i) {
    auto [c, s] = connect_pair(listen_fd, family, ip, port);
    close(c);
    close(s);
  }
}

void capture(IpFamily family, const std::string& path, std::uint8_t extensions = 0) {
  connwatch::kernel::SockDiagSocket socket;
  if (auto ec = socket.open()) die("open sock_diag");
  if (auto ec =
          socket.send_dump_request(family, connwatch::kernel::all_states_mask(), extensions)) {
    die("send");
  }
  std::vector<std::uint8_t> buffer(connwatch::kernel::kSockDiagBufferSize);
  std::ofstream out(path, std::ios::binary);
  int datagrams = 0;
  for (;;) {
    std::size_t n = 0;
    if (auto ec = socket.receive(buffer, n)) {
      std::fprintf(stderr, "receive: %s\n", ec.message().c_str());
      std::exit(1);
    }
    out.write(reinterpret_cast<const char*>(buffer.data()), static_cast<std::streamsize>(n));
    ++datagrams;
    // Stop after the datagram holding NLMSG_DONE: a parse that reaches `done` says so.
    struct Ignore final : connwatch::kernel::SocketVisitor {
      void on_socket(const connwatch::kernel::SocketRecord&) override {}
    } ignore;
    const auto parsed = connwatch::kernel::parse_sock_diag({buffer.data(), n}, ignore);
    if (parsed.error) {
      std::fprintf(stderr, "parse: %s\n", parsed.error.message().c_str());
      std::exit(1);
    }
    if (parsed.done) break;
  }
  std::printf("%s: %d datagrams\n", path.c_str(), datagrams);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: capture-sock-diag OUTDIR (inside unshare --net)\n");
    return 2;
  }
  const std::string dir = argv[1];

  const int l4 = listener(IpFamily::kIpv4, "127.0.0.1", 8080);
  std::vector<int> keep;
  for (int i = 0; i < 3; ++i) {
    auto [c, s] = connect_pair(l4, IpFamily::kIpv4, "127.0.0.1", 8080);
    keep.push_back(c);
    keep.push_back(s);
  }
  {
    std::vector<char> chunk(65536, 'x');
    for (const auto& [from, to] : {std::pair{keep[0], keep[1]}, std::pair{keep[1], keep[0]}}) {
      if (write(from, chunk.data(), chunk.size()) != static_cast<ssize_t>(chunk.size())) {
        die("write");
      }
      for (std::size_t got = 0; got < chunk.size();) {
        const ssize_t n = read(to, chunk.data(), chunk.size() - got);
        if (n <= 0) die("read");
        got += static_cast<std::size_t>(n);
      }
    }
  }
  churn(l4, IpFamily::kIpv4, "127.0.0.1", 8080, 500);
  const int l4b = listener(IpFamily::kIpv4, "127.0.0.2", 9090);
  churn(l4b, IpFamily::kIpv4, "127.0.0.2", 9090, 7);
  close(l4b);
  {
    auto [c, s] = connect_pair(l4, IpFamily::kIpv4, "127.0.0.1", 8080);
    shutdown(c, SHUT_WR);  // client FIN -> server CLOSE_WAIT, client FIN_WAIT2
    keep.push_back(c);
    keep.push_back(s);
  }

  const int l6 = listener(IpFamily::kIpv6, "::1", 8443);
  {
    auto [c, s] = connect_pair(l6, IpFamily::kIpv6, "::1", 8443);
    keep.push_back(c);
    keep.push_back(s);
  }
  churn(l6, IpFamily::kIpv6, "::1", 8443, 2);

  // Let the last FIN/ACK exchanges settle on loopback.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  capture(IpFamily::kIpv4, dir + "/sock_diag_v4.bin");
  capture(IpFamily::kIpv6, dir + "/sock_diag_v6.bin");
  capture(IpFamily::kIpv4, dir + "/sock_diag_v4_info.bin",
          connwatch::kernel::kSockDiagInfoExtension);
  std::fflush(stdout);
  if (std::system("ss -tan > /dev/stderr") != 0) return 1;
  return 0;
}
