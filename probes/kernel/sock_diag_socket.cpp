#include "probes/kernel/sock_diag_socket.h"

#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "probes/kernel/sock_diag_error.h"
#include "probes/kernel/sock_diag_parser.h"

namespace connwatch::kernel {
namespace {

std::error_code last_errno() { return {errno, std::system_category()}; }

// Only the socket buffer has to hold one datagram plus the next the kernel prepares (it refills
// when the queue is below half of SO_RCVBUF); 1 MiB leaves room for bursts without mattering
// for memory.
constexpr int kSocketBufferBytes = 1 << 20;

}  // namespace

SockDiagSocket::~SockDiagSocket() {
  if (fd_ >= 0) ::close(fd_);
}

SockDiagSocket::SockDiagSocket(SockDiagSocket&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), sequence_(other.sequence_) {}

SockDiagSocket& SockDiagSocket::operator=(SockDiagSocket&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    sequence_ = other.sequence_;
  }
  return *this;
}

std::error_code SockDiagSocket::open() {
  if (fd_ >= 0) return {};
  const int fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (fd < 0) return last_errno();
  // SO_RCVBUFFORCE passes net.core.rmem_max when we hold CAP_NET_ADMIN; otherwise settle for
  // whatever SO_RCVBUF grants. Neither failing is fatal.
  if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &kSocketBufferBytes,
                   sizeof(kSocketBufferBytes)) != 0) {
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &kSocketBufferBytes, sizeof(kSocketBufferBytes));
  }
  const timeval timeout{.tv_sec = 2, .tv_usec = 0};
  if (::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout)) != 0) {
    const auto ec = last_errno();
    ::close(fd);
    return ec;
  }
  fd_ = fd;
  return {};
}

std::error_code SockDiagSocket::send_dump_request(IpFamily family, std::uint32_t states,
                                                  std::uint8_t extensions) {
  if (fd_ < 0) return std::make_error_code(std::errc::bad_file_descriptor);
  const auto request = build_sock_diag_request(family, states, ++sequence_, extensions);
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  for (;;) {
    const ssize_t n = ::sendto(fd_, request.data(), request.size(), 0,
                               reinterpret_cast<const sockaddr*>(&kernel), sizeof(kernel));
    if (n >= 0) return {};
    if (errno != EINTR) return last_errno();
  }
}

std::error_code SockDiagSocket::receive(std::span<std::uint8_t> buffer, std::size_t& received) {
  received = 0;
  if (fd_ < 0) return std::make_error_code(std::errc::bad_file_descriptor);
  for (;;) {
    sockaddr_nl from{};
    iovec iov{.iov_base = buffer.data(), .iov_len = buffer.size()};
    msghdr msg{};
    msg.msg_name = &from;
    msg.msg_namelen = sizeof(from);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    const ssize_t n = ::recvmsg(fd_, &msg, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return SockDiagError::kIncomplete;
      return last_errno();
    }
    if ((msg.msg_flags & MSG_TRUNC) != 0) return SockDiagError::kReplyTooLarge;
    if (from.nl_pid != 0) continue;  // only the kernel's replies; ignore anything else sent to us
    if (n == 0) return SockDiagError::kIncomplete;
    received = static_cast<std::size_t>(n);
    return {};
  }
}

std::error_code read_sock_diag(SockDiagSocket& socket, IpFamily family, std::uint32_t states,
                               SocketVisitor& visitor, std::span<std::uint8_t> buffer,
                               SockDiagReadStats* stats, std::uint8_t extensions) {
  if (auto ec = socket.send_dump_request(family, states, extensions)) return ec;
  for (;;) {
    std::size_t received = 0;
    if (auto ec = socket.receive(buffer, received)) return ec;
    const auto parsed = parse_sock_diag(buffer.first(received), visitor);
    if (stats != nullptr) {
      ++stats->datagrams;
      stats->bytes += received;
      stats->sockets += parsed.sockets;
      stats->skipped += parsed.skipped;
      stats->interrupted = stats->interrupted || parsed.interrupted;
    }
    if (parsed.error) return parsed.error;
    if (parsed.done) return {};
  }
}

std::error_code read_sock_diag(std::uint32_t states, SocketVisitor& visitor,
                               SockDiagReadStats* stats) {
  SockDiagSocket socket;
  if (auto ec = socket.open()) return ec;
  std::vector<std::uint8_t> buffer(kSockDiagBufferSize);
  for (const IpFamily family : {IpFamily::kIpv4, IpFamily::kIpv6}) {
    if (auto ec = read_sock_diag(socket, family, states, visitor, buffer, stats)) return ec;
  }
  return {};
}

}  // namespace connwatch::kernel
