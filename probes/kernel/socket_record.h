// One TCP socket from a sock_diag dump, and the interface that consumes them one at a time so a
// dump of 100k sockets is aggregated while it streams instead of being stored.
#pragma once

#include <cstdint>

#include "net/endpoint.h"
#include "probes/kernel/tcp_state.h"

namespace connwatch::kernel {

// The shared address types (net/), by the names this module used before they were shared.
using net::Endpoint;
using net::IpAddress;
using net::IpFamily;

struct SocketRecord {
  TcpState state = TcpState::kClose;
  Endpoint local;
  Endpoint remote;
  // The socket's inode (what /proc/<pid>/fd/* links to as "socket:[inode]"). Zero for TIME_WAIT
  // and request sockets: they are kernel-only minisocks with no file, so they have no owner.
  std::uint32_t inode = 0;
  std::uint32_t uid = 0;
  std::uint8_t timer = 0;        // idiag_timer: 3 = TIME_WAIT timer
  std::uint32_t expires_ms = 0;  // time left on that timer
  // The kernel's socket cookie (idiag_cookie): unique while the socket lives, never reused within a
  // namespace, so it keys per-socket state between collections (an inode is 0 for minisocks).
  std::uint64_t cookie = 0;

  // From the INET_DIAG_INFO attribute (struct tcp_info), present when the dump asked for it and
  // the socket is a full one (not TIME_WAIT, not a request socket).
  bool has_info = false;
  std::uint32_t rtt_us = 0;         // tcpi_rtt: smoothed RTT, microseconds
  std::uint32_t total_retrans = 0;  // tcpi_total_retrans: segments retransmitted over its life
  std::uint32_t segs_out = 0;       // tcpi_segs_out: segments sent (Linux >= 4.2; else 0)
};

class SocketVisitor {
 public:
  virtual ~SocketVisitor() = default;
  virtual void on_socket(const SocketRecord& socket) = 0;
};

}  // namespace connwatch::kernel
