// The I/O half of sock_diag: a NETLINK_SOCK_DIAG socket that sends dump requests and receives the
// kernel's datagrams. read_sock_diag() runs a whole dump through parse_sock_diag().
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <system_error>
#include <vector>

#include "net/ip_address.h"
#include "probes/kernel/socket_record.h"

namespace connwatch::kernel {

// The shared address types (net/), by the names this module used before they were shared.
using net::IpFamily;

class SockDiagSocket {
 public:
  SockDiagSocket() = default;
  ~SockDiagSocket();
  SockDiagSocket(SockDiagSocket&& other) noexcept;
  SockDiagSocket& operator=(SockDiagSocket&& other) noexcept;
  SockDiagSocket(const SockDiagSocket&) = delete;
  SockDiagSocket& operator=(const SockDiagSocket&) = delete;

  // Opens the socket in the caller's network namespace, with a receive timeout so a wedged dump
  // cannot stall the poller.
  std::error_code open();
  bool is_open() const { return fd_ >= 0; }

  // Sends a SOCK_DIAG_BY_FAMILY dump request for TCP sockets of `family` in `states`, with the
  // idiag_ext bits `extensions` (kSockDiagInfoExtension: tcp_info with every full socket).
  std::error_code send_dump_request(IpFamily family, std::uint32_t states,
                                    std::uint8_t extensions = 0);

  // Receives one datagram from the kernel into `buffer`; `received` is its length. A datagram that
  // does not fit is an error (kReplyTooLarge), never silently cut.
  std::error_code receive(std::span<std::uint8_t> buffer, std::size_t& received);

 private:
  int fd_ = -1;
  std::uint32_t sequence_ = 0;
};

// The dump datagrams are at most 32 KiB (netlink_dump caps its skb at the reader's recvmsg size,
// up to SKB_WITH_OVERHEAD(32768)); offering at least that much lets the kernel fill whole 32 KiB
// skbs, about 370 sockets per recvmsg() instead of the ~45 of a 4 KiB NLMSG_GOODSIZE skb.
inline constexpr std::size_t kSockDiagBufferSize = 64 * 1024;

struct SockDiagReadStats {
  std::size_t datagrams = 0;
  std::size_t bytes = 0;
  std::size_t sockets = 0;
  std::size_t skipped = 0;
  bool interrupted = false;
};

// One complete dump on an open socket: request, receive and parse until NLMSG_DONE, streaming every
// socket into `visitor`. `buffer` must hold kSockDiagBufferSize bytes; it is reused between dumps.
std::error_code read_sock_diag(SockDiagSocket& socket, IpFamily family, std::uint32_t states,
                               SocketVisitor& visitor, std::span<std::uint8_t> buffer,
                               SockDiagReadStats* stats = nullptr, std::uint8_t extensions = 0);

// The same for both families (IPv4 then IPv6) on a fresh socket.
std::error_code read_sock_diag(std::uint32_t states, SocketVisitor& visitor,
                               SockDiagReadStats* stats = nullptr);

}  // namespace connwatch::kernel
