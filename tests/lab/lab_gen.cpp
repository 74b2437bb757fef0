// lab-gen: client-side traffic for the lab, one connection at a time so counts are exact.
//
//   lab-gen churn   --count N --host IP --port P [--rst] [--send LINE]
//   lab-gen resets  --count N --host IP --port P [--rst] [--send LINE]
//   lab-gen refused --count N --host IP --port P
//   lab-gen exhaust --host IP --port P [--max N] [--hold DUR]
//   lab-gen idle    --host IP --port P [--then-send]
//   (all: [--timeout DUR], default 3s, bounds every connect and every wait)
//
// Prints one line of JSON: {"attempted":N,"connected":N,"refused":N,"reset":N,
// "fin_closed":N,"reset_sent":N,"reset_received":N,"errors":{"ECONNRESET":N,...}} and, per
// subcommand, a few more keys (see README.md). "errors" counts the errno that ended each failed
// attempt, by name.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "tests/lab/duration.h"
#include "tests/lab/socket_fd.h"

namespace connwatch::lab {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

struct Target {
  sockaddr_storage address{};
  socklen_t length = 0;
  int family = AF_INET;
};

std::optional<Target> make_target(const std::string& host, std::uint16_t port) {
  Target target;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&target.address);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&target.address);
  if (::inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    target.length = sizeof(sockaddr_in);
    return target;
  }
  if (::inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    target.length = sizeof(sockaddr_in6);
    target.family = AF_INET6;
    return target;
  }
  return std::nullopt;
}

std::string errno_name(int error) {
  if (const char* name = ::strerrorname_np(error)) return name;
  return "E" + std::to_string(error);
}

// The outcome of one socket call: 0 on success, else the errno (ETIMEDOUT when our own bound
// expired).
using Errno = int;

Errno set_blocking(int fd, bool blocking) {
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0) return errno;
  return ::fcntl(fd, F_SETFL, blocking ? flags & ~O_NONBLOCK : flags | O_NONBLOCK) < 0 ? errno : 0;
}

// Non-blocking connect bounded by `timeout`; leaves the socket blocking again.
Errno connect_with_timeout(const Target& target, milliseconds timeout, SocketFd& out) {
  SocketFd fd(::socket(target.family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd.valid()) return errno;
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&target.address), target.length) != 0) {
    if (errno != EINPROGRESS) return errno;
    pollfd pfd{.fd = fd.get(), .events = POLLOUT, .revents = 0};
    const int ready = ::poll(&pfd, 1, static_cast<int>(timeout.count()));
    if (ready == 0) return ETIMEDOUT;
    if (ready < 0) return errno;
    int error = 0;
    socklen_t length = sizeof error;
    ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &error, &length);
    if (error != 0) return error;
  }
  if (const Errno error = set_blocking(fd.get(), true)) return error;
  out = std::move(fd);
  return 0;
}

enum class Ending { kFin, kReset, kTimeout, kOtherError };

struct Drained {
  Ending ending = Ending::kOtherError;
  Errno error = 0;
  std::string data;
};

// Reads until EOF, error, or `timeout` passes without the connection ending.
Drained drain(int fd, milliseconds timeout) {
  Drained result;
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    pollfd pfd{.fd = fd, .events = POLLIN, .revents = 0};
    const int ready = left.count() <= 0 ? 0 : ::poll(&pfd, 1, static_cast<int>(left.count()));
    if (ready == 0) {
      result.ending = Ending::kTimeout;
      result.error = ETIMEDOUT;
      return result;
    }
    if (ready < 0 && errno == EINTR) continue;
    char chunk[4096];
    const ssize_t n = ready < 0 ? -1 : ::recv(fd, chunk, sizeof chunk, 0);
    if (n > 0) {
      result.data.append(chunk, static_cast<std::size_t>(n));
      continue;
    }
    if (n == 0) {
      result.ending = Ending::kFin;
      return result;
    }
    if (errno == EINTR) continue;
    result.error = errno;
    result.ending = errno == ECONNRESET ? Ending::kReset : Ending::kOtherError;
    return result;
  }
}

Errno send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return 0;
}

struct Summary {
  int attempted = 0;
  int connected = 0;
  int refused = 0;
  int reset = 0;  // connections that ended in an RST, sent or received
  int reset_sent = 0;
  int reset_received = 0;
  int fin_closed = 0;
  std::map<std::string, int> errors;

  void failed(Errno error) {
    ++errors[errno_name(error)];
    if (error == ECONNREFUSED) ++refused;
    if (error == ECONNRESET) {
      ++reset;
      ++reset_received;
    }
  }

  nlohmann::ordered_json to_json() const {
    return {{"attempted", attempted},   {"connected", connected},
            {"refused", refused},       {"reset", reset},
            {"reset_sent", reset_sent}, {"reset_received", reset_received},
            {"fin_closed", fin_closed}, {"errors", errors}};
  }
};

struct GenOptions {
  std::string host;
  std::uint16_t port = 0;
  int count = 1;
  bool rst = false;
  std::string send;
  milliseconds timeout{3000};
  int max = 100000;
  milliseconds hold{0};
  bool then_send = false;
};

// Ends a connected socket either abortively (RST) or by a client-first FIN, then waits for the
// server's side of the close, so the next attempt starts only after this one is settled.
void finish(SocketFd& fd, const GenOptions& options, Summary& summary) {
  if (options.rst) {
    fd.reset();
    ++summary.reset;
    ++summary.reset_sent;
    return;
  }
  // shutdown(SHUT_WR) sends our FIN first; once the server's FIN arrives this socket is in
  // TIME_WAIT (RFC 9293 §3.6) and close() hands it to a timewait minisock.
  ::shutdown(fd.get(), SHUT_WR);
  const Drained drained = drain(fd.get(), options.timeout);
  if (drained.ending == Ending::kFin) {
    ++summary.fin_closed;
  } else {
    summary.failed(drained.error);
  }
  fd.close();
}

nlohmann::ordered_json run_churn(const Target& target, const GenOptions& options) {
  Summary summary;
  for (int i = 0; i < options.count; ++i) {
    ++summary.attempted;
    SocketFd fd;
    if (const Errno error = connect_with_timeout(target, options.timeout, fd)) {
      summary.failed(error);
      continue;
    }
    ++summary.connected;
    if (!options.send.empty()) {
      if (const Errno error = send_all(fd.get(), options.send + "\n")) {
        summary.failed(error);
        continue;
      }
    }
    finish(fd, options, summary);
  }
  return summary.to_json();
}

nlohmann::ordered_json run_resets(const Target& target, const GenOptions& options) {
  Summary summary;
  for (int i = 0; i < options.count; ++i) {
    ++summary.attempted;
    SocketFd fd;
    if (const Errno error = connect_with_timeout(target, options.timeout, fd)) {
      summary.failed(error);
      continue;
    }
    ++summary.connected;
    if (options.rst) {
      fd.reset();
      ++summary.reset;
      ++summary.reset_sent;
      continue;
    }
    if (!options.send.empty()) {
      if (const Errno error = send_all(fd.get(), options.send + "\n")) {
        summary.failed(error);
        continue;
      }
    }
    // Wait for the server's RST without sending our own FIN: a FIN would race it.
    const Drained drained = drain(fd.get(), options.timeout);
    if (drained.ending == Ending::kFin) {
      ++summary.fin_closed;
    } else {
      summary.failed(drained.error);
    }
  }
  return summary.to_json();
}

nlohmann::ordered_json run_refused(const Target& target, const GenOptions& options) {
  Summary summary;
  for (int i = 0; i < options.count; ++i) {
    ++summary.attempted;
    SocketFd fd;
    if (const Errno error = connect_with_timeout(target, options.timeout, fd)) {
      summary.failed(error);
      continue;
    }
    ++summary.connected;  // unexpected: something listens there
    finish(fd, options, summary);
  }
  return summary.to_json();
}

// Keeps every connection open until one fails: EADDRNOTAVAIL once the ephemeral range to this
// destination is used up (connect(2)), EMFILE once RLIMIT_NOFILE is reached (socket(2)).
nlohmann::ordered_json run_exhaust(const Target& target, const GenOptions& options) {
  Summary summary;
  std::vector<SocketFd> open;
  std::string first_error;
  while (summary.attempted < options.max) {
    ++summary.attempted;
    SocketFd fd;
    if (const Errno error = connect_with_timeout(target, options.timeout, fd)) {
      summary.failed(error);
      first_error = errno_name(error);
      break;
    }
    ++summary.connected;
    open.push_back(std::move(fd));
  }
  nlohmann::ordered_json out = summary.to_json();
  out["first_error"] = first_error;
  out["open"] = open.size();
  if (options.hold.count() > 0) {
    // Print first, so a caller running us in the background can look at the sockets meanwhile.
    std::printf("%s\n", out.dump().c_str());
    std::fflush(stdout);
    std::this_thread::sleep_for(options.hold);
    return nullptr;
  }
  return out;
}

// One keep-alive request, then wait for the server to close the idle connection: the server's
// keep-alive timeout, measured from the client's side.
nlohmann::ordered_json run_idle(const Target& target, const GenOptions& options) {
  nlohmann::ordered_json out;
  SocketFd fd;
  if (const Errno error = connect_with_timeout(target, options.timeout, fd)) {
    out["error"] = errno_name(error);
    return out;
  }
  const std::string request = "GET / HTTP/1.1\r\nHost: lab\r\nConnection: keep-alive\r\n\r\n";
  if (const Errno error = send_all(fd.get(), request)) {
    out["error"] = errno_name(error);
    return out;
  }
  // Read the response head and its Content-Length body.
  std::string buffer;
  const auto deadline = Clock::now() + options.timeout;
  std::size_t need = std::string::npos;
  while ((need == std::string::npos || buffer.size() < need) && Clock::now() < deadline) {
    pollfd pfd{.fd = fd.get(), .events = POLLIN, .revents = 0};
    if (::poll(&pfd, 1, 50) <= 0) continue;
    char chunk[4096];
    const ssize_t n = ::recv(fd.get(), chunk, sizeof chunk, 0);
    if (n <= 0) break;
    buffer.append(chunk, static_cast<std::size_t>(n));
    const std::size_t end = buffer.find("\r\n\r\n");
    if (end != std::string::npos && need == std::string::npos) {
      std::size_t length = 0;
      const std::size_t at = buffer.find("Content-Length:");
      if (at != std::string::npos && at < end) {
        length = std::strtoul(buffer.c_str() + at + 15, nullptr, 10);
      }
      need = end + 4 + length;
    }
  }
  if (need == std::string::npos || buffer.size() < need) {
    out["error"] = "no complete response";
    return out;
  }
  out["status"] = std::atoi(buffer.c_str() + 9);  // "HTTP/1.1 200"
  const auto idle_from = Clock::now();
  const Drained drained = drain(fd.get(), options.timeout);
  const double idle_seconds = std::chrono::duration<double>(Clock::now() - idle_from).count();
  switch (drained.ending) {
    case Ending::kFin:
      out["closed_by"] = "fin";
      break;
    case Ending::kReset:
      out["closed_by"] = "reset";
      break;
    case Ending::kTimeout:
      out["closed_by"] = "timeout";
      break;
    case Ending::kOtherError:
      out["closed_by"] = errno_name(drained.error);
      break;
  }
  out["idle_seconds"] = idle_seconds;
  if (options.then_send && drained.ending == Ending::kFin) {
    // The stale pooled connection: the server already closed, a client that did not notice
    // writes its next request. The write succeeds locally; the server's kernel answers with RST
    // (data for a closed socket, TCPAbortOnData on the server). The second write reports it.
    const Errno first = send_all(fd.get(), request);
    std::this_thread::sleep_for(milliseconds(100));
    const Errno second = first != 0 ? first : send_all(fd.get(), request);
    out["second_request"] = second == 0 ? "sent" : errno_name(second);
  }
  return out;
}

}  // namespace
}  // namespace connwatch::lab

int main(int argc, char** argv) {
  using connwatch::lab::GenOptions;
  using connwatch::lab::parse_duration;
  ::signal(SIGPIPE, SIG_IGN);
  CLI::App app{"lab-gen: client-side connection generators for the connwatch lab"};
  app.require_subcommand(1);
  GenOptions options;
  std::string timeout = "3s";
  std::string hold = "0ms";

  const auto common = [&](CLI::App* sub, bool counted) {
    sub->add_option("--host", options.host, "server IP literal (IPv4 or IPv6)")->required();
    sub->add_option("--port", options.port, "server port")->required();
    sub->add_option("--timeout", timeout, "bound on each connect and each wait (default 3s)");
    if (counted) sub->add_option("--count", options.count, "connections to make")->required();
  };
  CLI::App* churn = app.add_subcommand("churn", "client closes first: one TIME_WAIT each");
  common(churn, true);
  churn->add_flag("--rst", options.rst, "close with SO_LINGER 0 (RST) instead of FIN");
  churn->add_option("--send", options.send, "write this line after connecting");
  CLI::App* resets = app.add_subcommand("resets", "each connection ends in an RST");
  common(resets, true);
  resets->add_flag("--rst", options.rst, "send the RST ourselves (SO_LINGER 0 close)");
  resets->add_option("--send", options.send, "write this line, then wait for the server's RST");
  CLI::App* refused = app.add_subcommand("refused", "connect to a port nobody listens on");
  common(refused, true);
  CLI::App* exhaust = app.add_subcommand("exhaust", "open connections until connect fails");
  common(exhaust, false);
  exhaust->add_option("--max", options.max, "stop after this many attempts (default 100000)");
  exhaust->add_option("--hold", hold, "keep the connections open this long after reporting");
  CLI::App* idle = app.add_subcommand("idle", "one request, then time the server's idle close");
  common(idle, false);
  idle->add_flag("--then-send", options.then_send, "after the server's FIN, send a request");
  CLI11_PARSE(app, argc, argv);

  const auto parsed_timeout = parse_duration(timeout);
  const auto parsed_hold = parse_duration(hold);
  const auto target = connwatch::lab::make_target(options.host, options.port);
  if (!parsed_timeout || !parsed_hold || !target) {
    std::fprintf(stderr, "lab-gen: bad --host, --timeout or --hold\n");
    return 2;
  }
  options.timeout = *parsed_timeout;
  options.hold = *parsed_hold;

  nlohmann::ordered_json result;
  if (churn->parsed()) result = connwatch::lab::run_churn(*target, options);
  if (resets->parsed()) result = connwatch::lab::run_resets(*target, options);
  if (refused->parsed()) result = connwatch::lab::run_refused(*target, options);
  if (exhaust->parsed()) result = connwatch::lab::run_exhaust(*target, options);
  if (idle->parsed()) result = connwatch::lab::run_idle(*target, options);
  if (!result.is_null()) std::printf("%s\n", result.dump().c_str());
  return 0;
}
