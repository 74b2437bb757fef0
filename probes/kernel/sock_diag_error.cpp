#include "probes/kernel/sock_diag_error.h"

#include <string>

namespace connwatch::kernel {
namespace {

class SockDiagCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "sock_diag"; }
  std::string message(int value) const override {
    switch (static_cast<SockDiagError>(value)) {
      case SockDiagError::kTruncated:
        return "netlink reply truncated inside a message";
      case SockDiagError::kMalformed:
        return "malformed netlink message";
      case SockDiagError::kUnexpectedMessage:
        return "unexpected netlink message type in a sock_diag dump";
      case SockDiagError::kOverrun:
        return "netlink overrun: the kernel dropped part of the dump";
      case SockDiagError::kReplyTooLarge:
        return "netlink datagram larger than the receive buffer";
      case SockDiagError::kIncomplete:
        return "sock_diag dump ended before NLMSG_DONE";
    }
    return "unknown sock_diag error " + std::to_string(value);
  }
};

}  // namespace

const std::error_category& sock_diag_category() {
  static const SockDiagCategory category;
  return category;
}

std::error_code make_error_code(SockDiagError e) {
  return {static_cast<int>(e), sock_diag_category()};
}

}  // namespace connwatch::kernel
