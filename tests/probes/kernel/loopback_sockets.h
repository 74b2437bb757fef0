// Real TCP connections on loopback inside the test process: a listener on an ephemeral port and
// clients that connect to it, so the kernel's socket tables hold sockets the test knows about.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "net/endpoint.h"

namespace connwatch::kernel::testing {

// An owned fd.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

class LoopbackServer {
 public:
  // Listens on 127.0.0.1 (or ::1 when ipv6) on a port the kernel picks.
  explicit LoopbackServer(bool ipv6 = false) : ipv6_(ipv6) {
    listener_ = Fd(::socket(ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_storage ss = address(0);
    ::bind(listener_.get(), reinterpret_cast<sockaddr*>(&ss), length());
    ::listen(listener_.get(), 4096);
    socklen_t len = sizeof(ss);
    ::getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&ss), &len);
    port_ = ntohs(ipv6 ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port
                       : reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  }

  bool ok() const { return listener_.get() >= 0 && port_ != 0; }
  std::uint16_t port() const { return port_; }
  net::Endpoint endpoint() const {
    return {*net::IpAddress::parse(ipv6_ ? "::1" : "127.0.0.1"), port_};
  }

  // A connected {client, accepted server} pair; fds are -1 on failure.
  std::pair<Fd, Fd> connect() const {
    Fd client(::socket(ipv6_ ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_storage ss = address(port_);
    if (::connect(client.get(), reinterpret_cast<sockaddr*>(&ss), length()) != 0) return {};
    Fd server(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    return {std::move(client), std::move(server)};
  }

  // n connections closed client first: the client side of each sits in TIME_WAIT for 60 s.
  // Returns how many were made.
  int make_time_wait(int n) const {
    int made = 0;
    for (int i = 0; i < n; ++i) {
      auto [c, s] = connect();
      if (c.get() < 0 || s.get() < 0) break;
      c.reset();
      // The server reads the client's FIN before closing, so its close is an orderly FIN too.
      char byte;
      if (::recv(s.get(), &byte, 1, 0) != 0) break;
      s.reset();
      ++made;
    }
    return made;
  }

 private:
  sockaddr_storage address(std::uint16_t port) const {
    sockaddr_storage ss{};
    if (ipv6_) {
      auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
      a->sin6_family = AF_INET6;
      a->sin6_addr = in6addr_loopback;
      a->sin6_port = htons(port);
    } else {
      auto* a = reinterpret_cast<sockaddr_in*>(&ss);
      a->sin_family = AF_INET;
      a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      a->sin_port = htons(port);
    }
    return ss;
  }
  socklen_t length() const { return ipv6_ ? sizeof(sockaddr_in6) : sizeof(sockaddr_in); }

  bool ipv6_;
  Fd listener_;
  std::uint16_t port_ = 0;
};

}  // namespace connwatch::kernel::testing
