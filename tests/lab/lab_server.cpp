// lab-server: a TCP/HTTP server whose every mode reproduces one way real servers end connections.
// Blocking POSIX sockets, one thread per connection: a test tool should be easy to read.
//
//   lab-server --mode MODE --port P [--bind ADDR] [--after DUR] [--delay DUR]
//              [--failures N] [--retry-after] [--keepalive-header N] [--status CODE]
//
// Prints "listening on ADDR port P mode MODE" once the socket listens; the Python lab waits for it.
#include <arpa/inet.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "tests/lab/duration.h"
#include "tests/lab/http_request_head.h"
#include "tests/lab/socket_fd.h"

namespace connwatch::lab {
namespace {

using std::chrono::milliseconds;

enum class Mode {
  kOk,
  kRstAfterAccept,
  kRstAfterResponse,
  kIdleClose,
  kSlow,
  kFailThenOk,
  kTcpEcho,
  kStatus,
  kCloseAfterRequest
};

std::string_view to_string(Mode mode) {
  switch (mode) {
    case Mode::kOk:
      return "ok";
    case Mode::kRstAfterAccept:
      return "rst-after-accept";
    case Mode::kRstAfterResponse:
      return "rst-after-response";
    case Mode::kIdleClose:
      return "idle-close";
    case Mode::kSlow:
      return "slow";
    case Mode::kFailThenOk:
      return "fail-then-ok";
    case Mode::kTcpEcho:
      return "tcp-echo";
    case Mode::kStatus:
      return "status";
    case Mode::kCloseAfterRequest:
      return "close-after-request";
  }
  return "ok";
}

constexpr Mode kAllModes[] = {Mode::kOk,        Mode::kRstAfterAccept, Mode::kRstAfterResponse,
                              Mode::kIdleClose, Mode::kSlow,           Mode::kFailThenOk,
                              Mode::kTcpEcho,   Mode::kStatus,         Mode::kCloseAfterRequest};

std::optional<Mode> mode_from_string(std::string_view text) {
  for (const Mode mode : kAllModes) {
    if (to_string(mode) == text) return mode;
  }
  return std::nullopt;
}

struct ServerOptions {
  Mode mode = Mode::kOk;
  std::uint16_t port = 0;
  std::string bind = "::";
  milliseconds after{1000};
  milliseconds delay{2000};
  int failures = 0;
  bool retry_after = false;
  std::optional<int> keepalive_header;
  int status = 503;
};

// Shared by all connection threads: fail-then-ok counts requests across connections, as a
// flapping backend would.
std::atomic<int> g_requests_seen{0};

bool send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// Response and FIN in one segment: with TCP_CORK the data waits, and shutdown() appends the FIN
// to it (tcp_send_fin merges into the unsent tail). So a server that closes after answering is
// always the active closer; a separate FIN would race the client's own close.
bool send_then_fin(int fd, std::string_view data) {
  const int on = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_CORK, &on, sizeof on);
  const bool sent = send_all(fd, data);
  ::shutdown(fd, SHUT_WR);
  return sent;
}

enum class ReadOutcome { kData, kEof, kIdleTimeout, kError };

// Waits up to `timeout` (negative = forever) for bytes and appends them to `buffer`.
ReadOutcome read_some(int fd, std::string& buffer, milliseconds timeout) {
  pollfd pfd{.fd = fd, .events = POLLIN, .revents = 0};
  const int ready = ::poll(&pfd, 1, static_cast<int>(timeout.count()));
  if (ready == 0) return ReadOutcome::kIdleTimeout;
  if (ready < 0) return errno == EINTR ? read_some(fd, buffer, timeout) : ReadOutcome::kError;
  char chunk[4096];
  const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
  if (n == 0) return ReadOutcome::kEof;
  if (n < 0) return errno == EINTR ? ReadOutcome::kData : ReadOutcome::kError;
  buffer.append(chunk, static_cast<std::size_t>(n));
  return ReadOutcome::kData;
}

// SIOCOUTQ is bytes not yet acknowledged by the peer. An abortive close discards unsent data, so
// rst-after-response waits for the ACK first: the client must see the response and then the RST.
void wait_until_acknowledged(int fd, milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  int unacked = 0;
  while (::ioctl(fd, SIOCOUTQ, &unacked) == 0 && unacked > 0 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(1));
  }
}

std::string_view reason_phrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 404:
      return "Not Found";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    default:
      return "Status";
  }
}

std::string http_response(const ServerOptions& options, int status, bool keep_alive) {
  const std::string_view body = status == 200 ? "ok\n" : "unavailable\n";
  std::string out =
      "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason_phrase(status)) + "\r\n";
  out += "Content-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  if (options.keepalive_header && keep_alive) {
    out += "Keep-Alive: timeout=" + std::to_string(*options.keepalive_header) + "\r\n";
  }
  if (status == 503 && options.retry_after) out += "Retry-After: 0\r\n";
  if (!keep_alive) out += "Connection: close\r\n";
  out += "\r\n";
  out += body;
  return out;
}

void serve_http(SocketFd conn, const ServerOptions& options) {
  // idle-close is the only mode with a server-side keep-alive timeout; the others wait forever,
  // like a server whose keep-alive outlasts the client.
  const milliseconds idle_limit =
      options.mode == Mode::kIdleClose ? options.after : milliseconds(-1);
  std::string buffer;
  for (;;) {
    HttpRequestHead head = parse_http_request_head(buffer);
    while (head.status == HeadStatus::kIncomplete ||
           (head.status == HeadStatus::kComplete &&
            buffer.size() < head.head_bytes + head.body_bytes)) {
      // A partial request is not idle; only the wait for a new request is.
      const milliseconds limit = buffer.empty() ? idle_limit : milliseconds(-1);
      const ReadOutcome outcome = read_some(conn.get(), buffer, limit);
      if (outcome == ReadOutcome::kIdleTimeout) return;  // close() sends the FIN
      if (outcome == ReadOutcome::kEof || outcome == ReadOutcome::kError) return;
      head = parse_http_request_head(buffer);
    }
    if (head.status == HeadStatus::kMalformed) {
      send_then_fin(conn.get(),
                    "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
      return;
    }
    buffer.erase(0, head.head_bytes + head.body_bytes);
    // A handler that dies after reading the request: FIN, no status line (curl 52).
    if (options.mode == Mode::kCloseAfterRequest) return;

    if (options.mode == Mode::kSlow) std::this_thread::sleep_for(options.delay);
    int status = 200;
    if (options.mode == Mode::kFailThenOk && g_requests_seen.fetch_add(1) < options.failures) {
      status = 503;
    }
    if (options.mode == Mode::kStatus) status = options.status;
    const bool rst_next = options.mode == Mode::kRstAfterResponse;
    const bool keep_alive = head.keep_alive && !rst_next;
    const std::string response = http_response(options, status, keep_alive);
    if (!keep_alive && !rst_next) {
      send_then_fin(conn.get(), response);
      return;
    }
    if (!send_all(conn.get(), response)) return;
    if (rst_next) {
      wait_until_acknowledged(conn.get(), milliseconds(1000));
      conn.reset();
      return;
    }
  }
}

void serve_echo(SocketFd conn) {
  std::string buffer;
  for (;;) {
    const std::size_t eol = buffer.find('\n');
    if (eol != std::string::npos) {
      if (!send_all(conn.get(), std::string_view(buffer).substr(0, eol + 1))) return;
      buffer.erase(0, eol + 1);
      continue;
    }
    if (read_some(conn.get(), buffer, milliseconds(-1)) != ReadOutcome::kData) {
      if (!buffer.empty()) send_all(conn.get(), buffer);  // a last line without newline
      return;
    }
  }
}

// A server that dies right after the handshake. It waits for the client's first bytes (or
// 100 ms) so the client's connect() has returned: an RST racing connect() surfaces as a connect
// failure (curl 7), not as the reset of an established connection (curl 56).
void reset_after_accept(SocketFd conn) {
  pollfd pfd{.fd = conn.get(), .events = POLLIN, .revents = 0};
  ::poll(&pfd, 1, 100);
  conn.reset();
}

// Binds ADDR (IPv4 or IPv6 literal); "::" also accepts IPv4 (IPV6_V6ONLY off).
SocketFd listen_on(const ServerOptions& options, std::uint16_t& bound_port) {
  sockaddr_storage storage{};
  socklen_t length = 0;
  int family = AF_INET6;
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
  auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
  if (::inet_pton(AF_INET6, options.bind.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(options.port);
    length = sizeof(sockaddr_in6);
  } else if (::inet_pton(AF_INET, options.bind.c_str(), &v4->sin_addr) == 1) {
    family = AF_INET;
    v4->sin_family = AF_INET;
    v4->sin_port = htons(options.port);
    length = sizeof(sockaddr_in);
  } else {
    std::fprintf(stderr, "lab-server: --bind %s is not an IP address\n", options.bind.c_str());
    return SocketFd();
  }
  SocketFd fd(::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  const int on = 1;
  const int off = 0;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  if (family == AF_INET6) ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&storage), length) != 0 ||
      ::listen(fd.get(), 4096) != 0) {
    std::fprintf(stderr, "lab-server: cannot listen on %s port %u: %s\n", options.bind.c_str(),
                 options.port, std::strerror(errno));
    return SocketFd();
  }
  ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&storage), &length);
  bound_port = ntohs(family == AF_INET6 ? v6->sin6_port : v4->sin_port);
  return fd;
}

int run(const ServerOptions& options) {
  ::signal(SIGPIPE, SIG_IGN);
  std::uint16_t port = 0;
  SocketFd listener = listen_on(options, port);
  if (!listener.valid()) return 3;
  std::printf("listening on %s port %u mode %s\n", options.bind.c_str(), port,
              std::string(to_string(options.mode)).c_str());
  std::fflush(stdout);

  for (;;) {
    SocketFd conn(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!conn.valid()) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      // EMFILE and friends: back off instead of spinning; the lab bounds every run anyway.
      std::this_thread::sleep_for(milliseconds(10));
      continue;
    }
    switch (options.mode) {
      case Mode::kRstAfterAccept:
        std::thread(reset_after_accept, std::move(conn)).detach();
        break;
      case Mode::kTcpEcho:
        std::thread(serve_echo, std::move(conn)).detach();
        break;
      case Mode::kOk:
      case Mode::kRstAfterResponse:
      case Mode::kIdleClose:
      case Mode::kSlow:
      case Mode::kFailThenOk:
      case Mode::kStatus:
      case Mode::kCloseAfterRequest:
        std::thread(serve_http, std::move(conn), std::cref(options)).detach();
        break;
    }
  }
}

}  // namespace
}  // namespace connwatch::lab

int main(int argc, char** argv) {
  using connwatch::lab::parse_duration;
  CLI::App app{"lab-server: reproduces how servers end TCP connections"};
  connwatch::lab::ServerOptions options;
  std::string mode = "ok";
  std::string after = "1s";
  std::string delay = "2s";
  app.add_option("--mode", mode,
                 "ok | rst-after-accept | rst-after-response | idle-close | slow | fail-then-ok | "
                 "tcp-echo | status (every answer --status) | close-after-request (reads the "
                 "request, closes without answering)")
      ->required();
  app.add_option("--port", options.port, "TCP port (0 = any, printed)")->required();
  app.add_option("--bind", options.bind, "IP literal; :: is dual-stack");
  app.add_option("--after", after, "idle-close: idle time before the server's FIN");
  app.add_option("--delay", delay, "slow: delay before each response");
  app.add_option("--failures", options.failures, "fail-then-ok: 503 for the first N requests");
  app.add_flag("--retry-after", options.retry_after, "fail-then-ok: add Retry-After: 0 to 503s");
  app.add_option("--keepalive-header", options.keepalive_header,
                 "send Keep-Alive: timeout=N on keep-alive responses");
  app.add_option("--status", options.status, "status: the code of every answer (default 503)");
  CLI11_PARSE(app, argc, argv);

  const auto parsed_mode = connwatch::lab::mode_from_string(mode);
  const auto parsed_after = parse_duration(after);
  const auto parsed_delay = parse_duration(delay);
  if (!parsed_mode || !parsed_after || !parsed_delay) {
    std::fprintf(stderr, "lab-server: bad --mode, --after or --delay (durations: 250ms, 1s, 2m)\n");
    return 2;
  }
  options.mode = *parsed_mode;
  options.after = *parsed_after;
  options.delay = *parsed_delay;
  return connwatch::lab::run(options);
}
