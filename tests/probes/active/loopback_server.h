// A scripted TCP server on 127.0.0.1 for the pool and harness tests: real sockets, one thread
// polling the listener and every accepted connection. In HTTP mode each request head ("\r\n\r\n")
// gets the response the responder returns for its index (counted over all connections); keep-alive
// unless the response says otherwise. A banner, if set, is sent `banner_delay` after accept (a
// talk-first server such as SSH or SMTP), and the connection read from another `banner_delay` on.
// Counts how each connection ended as the server saw it:
// EOF (the peer's FIN) or ECONNRESET (the peer's RST).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace connwatch::active::testing {

class LoopbackServer {
 public:
  using Responder = std::function<std::string(int request)>;
  using Clock = std::chrono::steady_clock;

  struct Options {
    Responder responder;  // null: never answers (a tcp:// server that only accepts)
    std::string banner;
    std::chrono::milliseconds banner_delay{0};
  };

  explicit LoopbackServer(Options options) : options_(std::move(options)) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
        ::listen(listener_, 64) != 0 ||
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      throw std::runtime_error("loopback server: cannot listen");
    }
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { loop(); });
  }

  ~LoopbackServer() {
    stop_ = true;
    thread_.join();
    if (listener_ >= 0) ::close(listener_);
    for (const auto& c : connections_) ::close(c.fd);
  }

  LoopbackServer(const LoopbackServer&) = delete;
  LoopbackServer& operator=(const LoopbackServer&) = delete;

  std::uint16_t port() const { return port_; }
  int accepted() const { return accepted_; }
  int requests() const { return requests_; }
  int fins() const { return fins_; }
  int resets() const { return resets_; }
  // Stops listening (new connections are refused); accepted ones stay open.
  void close_listener() { close_listener_ = true; }

  // Polls until `done()` or `timeout`; true when done.
  static bool wait_until(const std::function<bool()>& done,
                         std::chrono::milliseconds timeout = std::chrono::milliseconds(3000)) {
    const auto until = Clock::now() + timeout;
    while (!done()) {
      if (Clock::now() > until) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return true;
  }

 private:
  struct Connection {
    int fd;
    Clock::time_point accepted_at;
    bool banner_sent;
    std::string pending;
  };

  void loop() {
    while (!stop_) {
      if (close_listener_ && listener_ >= 0) {
        ::close(listener_);
        listener_ = -1;
      }
      std::vector<pollfd> fds;
      if (listener_ >= 0) fds.push_back({listener_, POLLIN, 0});
      for (const auto& c : connections_) fds.push_back({c.fd, POLLIN, 0});
      ::poll(fds.data(), fds.size(), 5);
      if (listener_ >= 0 && (fds[0].revents & POLLIN) != 0) {
        const int fd = ::accept(listener_, nullptr, nullptr);
        if (fd >= 0) {
          connections_.push_back({fd, Clock::now(), options_.banner.empty(), {}});
          ++accepted_;
        }
      }
      const auto now = Clock::now();
      for (auto it = connections_.begin(); it != connections_.end();) {
        if (!it->banner_sent && now - it->accepted_at >= options_.banner_delay) {
          ::send(it->fd, options_.banner.data(), options_.banner.size(), MSG_NOSIGNAL);
          it->banner_sent = true;
        }
        // A talk-first server reads only once its banner had time to draw the peer's answer.
        const bool reading = it->banner_sent && now - it->accepted_at >= options_.banner_delay * 2;
        if (!reading || serve(*it)) {
          ++it;
        } else {
          ::close(it->fd);
          it = connections_.erase(it);
        }
      }
    }
  }

  // False when the connection ended.
  bool serve(Connection& c) {
    char buffer[4096];
    for (;;) {
      const ssize_t n = ::recv(c.fd, buffer, sizeof buffer, MSG_DONTWAIT);
      if (n == 0) {
        // The FIN is read before a later RST: SO_ERROR tells whether one followed.
        int error = 0;
        socklen_t length = sizeof error;
        ::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &error, &length);
        ++(error == ECONNRESET || error == EPIPE ? resets_ : fins_);
        return false;
      }
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
        if (errno == ECONNRESET) ++resets_;
        return false;
      }
      if (!options_.responder) continue;
      c.pending.append(buffer, static_cast<std::size_t>(n));
      for (std::size_t end; (end = c.pending.find("\r\n\r\n")) != std::string::npos;) {
        c.pending.erase(0, end + 4);
        const std::string response = options_.responder(requests_++);
        ::send(c.fd, response.data(), response.size(), MSG_NOSIGNAL);
      }
    }
  }

  Options options_;
  int listener_ = -1;
  std::uint16_t port_ = 0;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> close_listener_{false};
  std::atomic<int> accepted_{0};
  std::atomic<int> requests_{0};
  std::atomic<int> fins_{0};
  std::atomic<int> resets_{0};
  std::vector<Connection> connections_;  // the server thread's
};

}  // namespace connwatch::active::testing
