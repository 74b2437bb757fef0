#include "probes/kernel/sock_diag_parser.h"

#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstring>
#include <type_traits>

#include "probes/kernel/sock_diag_error.h"

namespace connwatch::kernel {
namespace {

static_assert(sizeof(nlmsghdr) == 16);
static_assert(sizeof(inet_diag_msg) == 72);
static_assert(sizeof(inet_diag_req_v2) == 56);
static_assert(kSockDiagRequestSize == sizeof(nlmsghdr) + sizeof(inet_diag_req_v2));
static_assert(kSockDiagInfoExtension == 1U << (INET_DIAG_INFO - 1));

// The input comes from a datagram buffer or a fuzzer, so nothing is assumed aligned: every struct
// is copied out of the bytes before it is read.
template <typename T>
T load(const std::uint8_t* at) {
  static_assert(std::is_trivially_copyable_v<T>);
  T value;
  std::memcpy(&value, at, sizeof(T));
  return value;
}

std::size_t align4(std::size_t n) { return (n + 3U) & ~std::size_t{3}; }

std::uint16_t port_from_network(std::uint16_t be) { return ntohs(be); }

Endpoint endpoint_of(std::uint8_t family, const __be32 (&words)[4], std::uint16_t port_be) {
  std::array<std::uint8_t, 16> bytes{};
  std::memcpy(bytes.data(), words, bytes.size());
  const std::uint16_t port = port_from_network(port_be);
  if (family == AF_INET) return {IpAddress::v4(std::span(bytes).first<4>()), port};
  return {IpAddress::v6_unmapped(bytes), port};
}

// NLMSG_ERROR and a failed NLMSG_DONE carry a negative errno; anything else is not a real reply.
std::error_code kernel_errno(int negative_errno) {
  if (negative_errno >= 0 || negative_errno == INT_MIN) return SockDiagError::kMalformed;
  return {-negative_errno, std::system_category()};
}

// The tcp_info fields connwatch reads, if the attribute reaches them: older kernels send a shorter
// struct (tcpi_segs_out arrived in 4.2), so each field is taken only when it is covered.
template <typename Field>
bool covered(std::size_t length, std::size_t offset) {
  return offset + sizeof(Field) <= length;
}

void read_tcp_info(const std::uint8_t* at, std::size_t length, SocketRecord& record) {
  tcp_info info{};
  std::memcpy(&info, at, std::min(length, sizeof(info)));
  if (!covered<std::uint32_t>(length, offsetof(tcp_info, tcpi_total_retrans))) return;
  record.has_info = true;
  record.rtt_us = info.tcpi_rtt;
  record.total_retrans = info.tcpi_total_retrans;
  if (covered<std::uint32_t>(length, offsetof(tcp_info, tcpi_segs_out))) {
    record.segs_out = info.tcpi_segs_out;
  }
}

// The attributes after inet_diag_msg (struct rtattr, 4-byte aligned). False when one claims more
// bytes than the message has.
bool read_attributes(const std::uint8_t* at, std::size_t length, SocketRecord& record) {
  std::size_t offset = 0;
  while (offset + sizeof(rtattr) <= length) {
    const auto attribute = load<rtattr>(at + offset);
    if (attribute.rta_len < sizeof(rtattr) || attribute.rta_len > length - offset) return false;
    const std::size_t payload = attribute.rta_len - sizeof(rtattr);
    if (attribute.rta_type == INET_DIAG_INFO) {
      read_tcp_info(at + offset + sizeof(rtattr), payload, record);
    }
    offset += align4(attribute.rta_len);
  }
  return true;
}

}  // namespace

SockDiagParseResult parse_sock_diag(std::span<const std::uint8_t> bytes, SocketVisitor& visitor) {
  SockDiagParseResult result;
  std::size_t offset = 0;
  while (offset < bytes.size()) {
    const std::size_t remaining = bytes.size() - offset;
    if (remaining < sizeof(nlmsghdr)) {
      result.error = SockDiagError::kTruncated;
      return result;
    }
    const std::uint8_t* msg = bytes.data() + offset;
    const auto header = load<nlmsghdr>(msg);
    if (header.nlmsg_len < sizeof(nlmsghdr)) {
      result.error = SockDiagError::kMalformed;
      return result;
    }
    if (header.nlmsg_len > remaining) {
      result.error = SockDiagError::kTruncated;
      return result;
    }
    const std::uint8_t* payload = msg + sizeof(nlmsghdr);
    const std::size_t payload_len = header.nlmsg_len - sizeof(nlmsghdr);
    if ((header.nlmsg_flags & NLM_F_DUMP_INTR) != 0) result.interrupted = true;

    switch (header.nlmsg_type) {
      case NLMSG_DONE: {
        // The payload is the dump's final status (netlink_dump_done); older kernels may omit it.
        if (payload_len >= sizeof(int)) {
          const int status = load<int>(payload);
          if (status < 0) {
            result.error = kernel_errno(status);
            return result;
          }
        }
        result.done = true;
        return result;
      }
      case NLMSG_ERROR: {
        if (payload_len < sizeof(int)) {
          result.error = SockDiagError::kMalformed;
          return result;
        }
        const int status = load<int>(payload);
        if (status != 0) {  // 0 is an acknowledgement, harmless in a dump
          result.error = kernel_errno(status);
          return result;
        }
        break;
      }
      case NLMSG_NOOP:
        break;
      case NLMSG_OVERRUN:
        result.error = SockDiagError::kOverrun;
        return result;
      case SOCK_DIAG_BY_FAMILY: {
        // Attributes (INET_DIAG_INFO when asked for, INET_DIAG_SHUTDOWN, cgroup id, ...) follow
        // the fixed part; nlmsg_len covers them.
        if (payload_len < sizeof(inet_diag_msg)) {
          result.error = SockDiagError::kMalformed;
          return result;
        }
        const auto diag = load<inet_diag_msg>(payload);
        if (diag.idiag_family != AF_INET && diag.idiag_family != AF_INET6) {
          result.error = SockDiagError::kMalformed;
          return result;
        }
        const auto state = tcp_state_from_kernel(diag.idiag_state);
        if (!state) {
          ++result.skipped;
          break;
        }
        SocketRecord record;
        record.state = *state;
        record.local = endpoint_of(diag.idiag_family, diag.id.idiag_src, diag.id.idiag_sport);
        record.remote = endpoint_of(diag.idiag_family, diag.id.idiag_dst, diag.id.idiag_dport);
        record.inode = diag.idiag_inode;
        record.uid = diag.idiag_uid;
        record.timer = diag.idiag_timer;
        record.expires_ms = diag.idiag_expires;
        record.cookie =
            (static_cast<std::uint64_t>(diag.id.idiag_cookie[1]) << 32) | diag.id.idiag_cookie[0];
        if (!read_attributes(payload + sizeof(inet_diag_msg), payload_len - sizeof(inet_diag_msg),
                             record)) {
          result.error = SockDiagError::kMalformed;
          return result;
        }
        visitor.on_socket(record);
        ++result.sockets;
        break;
      }
      default:
        result.error = SockDiagError::kUnexpectedMessage;
        return result;
    }
    // Messages are padded to 4 bytes (NLMSG_ALIGN); the last one in a buffer may not be.
    offset += std::min(align4(header.nlmsg_len), remaining);
  }
  return result;
}

std::uint32_t state_mask(std::initializer_list<TcpState> states) {
  std::uint32_t mask = 0;
  for (const TcpState s : states) mask |= 1U << kernel_value(s);
  return mask;
}

std::uint32_t all_states_mask() {
  std::uint32_t mask = 0;
  for (const TcpState s : kAllTcpStates) mask |= 1U << kernel_value(s);
  return mask;
}

std::array<std::uint8_t, kSockDiagRequestSize> build_sock_diag_request(IpFamily family,
                                                                       std::uint32_t states,
                                                                       std::uint32_t sequence,
                                                                       std::uint8_t extensions) {
  nlmsghdr header{};
  header.nlmsg_len = kSockDiagRequestSize;
  header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  header.nlmsg_seq = sequence;
  header.nlmsg_pid = 0;  // the kernel fills in our port id

  inet_diag_req_v2 request{};
  request.sdiag_family = family == IpFamily::kIpv4 ? AF_INET : AF_INET6;
  request.sdiag_protocol = IPPROTO_TCP;
  request.idiag_ext = extensions;
  request.idiag_states = states;
  // id left zero with no bytecode: the kernel dumps every socket of the family.

  std::array<std::uint8_t, kSockDiagRequestSize> out{};
  std::memcpy(out.data(), &header, sizeof(header));
  std::memcpy(out.data() + sizeof(header), &request, sizeof(request));
  return out;
}

}  // namespace connwatch::kernel
