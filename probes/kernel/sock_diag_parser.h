// Pure parsing of NETLINK_SOCK_DIAG dump replies (inet_diag_msg records, see sock_diag(7)): the
// bytes of one or more recvmsg() datagrams in, SocketRecords out. Never trusts a length.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <system_error>

#include "net/ip_address.h"
#include "probes/kernel/socket_record.h"
#include "probes/kernel/tcp_state.h"

namespace connwatch::kernel {

// The shared address types (net/), by the names this module used before they were shared.
using net::IpAddress;
using net::IpFamily;

struct SockDiagParseResult {
  // Set when the reply cannot be used (truncated, malformed, a kernel errno); parsing stopped.
  std::error_code error;
  bool done = false;         // NLMSG_DONE seen: the dump is complete
  bool interrupted = false;  // NLM_F_DUMP_INTR: tables changed during the dump (counts are fuzzy)
  std::size_t sockets = 0;   // records handed to the visitor
  std::size_t skipped = 0;   // records in a state outside the 11 exported ones
};

// Parses the netlink messages in `bytes` (concatenated datagrams are fine: every message carries
// its own length), calling `visitor` once per socket, until NLMSG_DONE, an error, or the end.
// Without an error and without `done`, the caller should read more. Bytes after NLMSG_DONE are
// ignored. The input may be unaligned.
SockDiagParseResult parse_sock_diag(std::span<const std::uint8_t> bytes, SocketVisitor& visitor);

// idiag_states bits for the given states.
std::uint32_t state_mask(std::initializer_list<TcpState> states);
// Every exported state (the kernel adds request sockets itself when syn_recv is asked for).
std::uint32_t all_states_mask();

inline constexpr std::size_t kSockDiagRequestSize = 16 + 56;  // nlmsghdr + inet_diag_req_v2

// idiag_ext bit asking for INET_DIAG_INFO (struct tcp_info) with every full socket.
inline constexpr std::uint8_t kSockDiagInfoExtension = 1U << (2 - 1);  // INET_DIAG_INFO = 2

// A SOCK_DIAG_BY_FAMILY dump request for TCP sockets of one family in the given states;
// `extensions` is the idiag_ext bit set (0: the fixed part only).
std::array<std::uint8_t, kSockDiagRequestSize> build_sock_diag_request(IpFamily family,
                                                                       std::uint32_t states,
                                                                       std::uint32_t sequence,
                                                                       std::uint8_t extensions = 0);

}  // namespace connwatch::kernel
