// Why a sock_diag reply could not be used. Kernel-reported failures (NLMSG_ERROR, a negative
// NLMSG_DONE) are system errors with the kernel's errno instead.
#pragma once

#include <system_error>

namespace connwatch::kernel {

enum class SockDiagError {
  kTruncated = 1,      // the bytes end inside a message: a short read or a cut capture
  kMalformed,          // a length or field no kernel sends (nlmsg_len < header, unknown family)
  kUnexpectedMessage,  // a netlink message type that is not part of a SOCK_DIAG dump
  kOverrun,            // NLMSG_OVERRUN: the kernel dropped part of the dump
  kReplyTooLarge,      // recvmsg() reported MSG_TRUNC: a datagram did not fit the buffer
  kIncomplete,         // the socket ran dry or timed out before NLMSG_DONE
};

const std::error_category& sock_diag_category();
std::error_code make_error_code(SockDiagError e);

}  // namespace connwatch::kernel

template <>
struct std::is_error_code_enum<connwatch::kernel::SockDiagError> : std::true_type {};
