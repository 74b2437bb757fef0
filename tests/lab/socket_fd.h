// An owned socket file descriptor, closed once, plus the two ways a lab tool ends a connection.
#pragma once

#include <sys/socket.h>
#include <unistd.h>

#include <utility>

namespace connwatch::lab {

class SocketFd {
 public:
  SocketFd() = default;
  explicit SocketFd(int fd) : fd_(fd) {}
  SocketFd(const SocketFd&) = delete;
  SocketFd& operator=(const SocketFd&) = delete;
  SocketFd(SocketFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  SocketFd& operator=(SocketFd&& other) noexcept {
    if (this != &other) {
      close();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  ~SocketFd() { close(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }

  // Orderly close: the kernel sends FIN (or RST if unread data is queued, RFC 2525 §2.17).
  void close() {
    if (fd_ >= 0) ::close(std::exchange(fd_, -1));
  }

  // Abortive close: with SO_LINGER {1, 0}, __tcp_close() calls tcp_disconnect(), which sends RST
  // and skips TIME_WAIT; Linux counts it as TcpExt TCPAbortOnData.
  void reset() {
    if (fd_ < 0) return;
    const linger abort{.l_onoff = 1, .l_linger = 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
    close();
  }

 private:
  int fd_ = -1;
};

}  // namespace connwatch::lab
