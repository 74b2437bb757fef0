#include "probes/active/close_reason.h"

namespace connwatch::active {

std::string_view to_string(CloseReason reason) {
  switch (reason) {
    case CloseReason::kIdleTimeout:
      return "idle_timeout";
    case CloseReason::kMaxLifetime:
      return "max_lifetime";
    case CloseReason::kPeerClosed:
      return "peer_closed";
    case CloseReason::kReset:
      return "reset";
    case CloseReason::kError:
      return "error";
    case CloseReason::kShutdown:
      return "shutdown";
  }
  return "error";
}

}  // namespace connwatch::active
