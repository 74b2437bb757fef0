#include "probes/active/socket_health.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <cerrno>

namespace connwatch::active {

std::string_view to_string(SocketHealth health) {
  switch (health) {
    case SocketHealth::kOpen:
      return "open";
    case SocketHealth::kPeerClosed:
      return "peer_closed";
    case SocketHealth::kReset:
      return "reset";
    case SocketHealth::kUnsolicitedData:
      return "unsolicited_data";
    case SocketHealth::kError:
      return "error";
  }
  return "error";
}

SocketHealth inspect_socket(int fd) {
  int error = 0;
  socklen_t length = sizeof error;
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) return SocketHealth::kError;
  // tcp_reset() sets sk_err to ECONNRESET (EPIPE in CLOSE_WAIT) when an RST kills the socket.
  if (error == ECONNRESET || error == EPIPE) return SocketHealth::kReset;
  if (error != 0) return SocketHealth::kError;
  tcp_info info{};
  length = sizeof info;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &length) != 0) return SocketHealth::kError;
  switch (info.tcpi_state) {
    case TCP_ESTABLISHED: {
      int unread = 0;
      if (::ioctl(fd, FIONREAD, &unread) != 0) return SocketHealth::kError;
      return unread > 0 ? SocketHealth::kUnsolicitedData : SocketHealth::kOpen;
    }
    case TCP_CLOSE_WAIT:
      return SocketHealth::kPeerClosed;
    case TCP_CLOSE:
      // An RST whose error an earlier read already consumed.
      return SocketHealth::kReset;
    default:
      return SocketHealth::kError;
  }
}

SocketHealth drain_and_inspect(int fd) {
  char scratch[4096];
  for (int i = 0; i < 64; ++i) {
    const ssize_t n = ::recv(fd, scratch, sizeof scratch, MSG_DONTWAIT);
    if (n > 0) continue;
    if (n == 0) return SocketHealth::kPeerClosed;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return inspect_socket(fd);
    if (errno == ECONNRESET || errno == EPIPE) return SocketHealth::kReset;
    return SocketHealth::kError;
  }
  return inspect_socket(fd);
}

}  // namespace connwatch::active
