// Why a pooled connection was closed: connwatch_pool_connections_closed_total{reason}.
#pragma once

#include <array>
#include <string_view>

namespace connwatch::active {

enum class CloseReason {
  kIdleTimeout,  // idle longer than the pool's idle timeout (or the server's Keep-Alive - 1 s)
  kMaxLifetime,  // retired when next idle: older than max_lifetime, or its address left DNS
  kPeerClosed,   // the peer's FIN: seen while idle, or announced by `Connection: close`
  kReset,        // the peer's RST, or a write that found the connection gone (EPIPE)
  kError,        // any other failure on the connection (timeout, TLS, protocol, unexpected bytes)
  kShutdown,     // the pool was stopped: agent shutdown or the target removed on reload
};
inline constexpr std::array kAllCloseReasons{CloseReason::kIdleTimeout, CloseReason::kMaxLifetime,
                                             CloseReason::kPeerClosed,  CloseReason::kReset,
                                             CloseReason::kError,       CloseReason::kShutdown};
std::string_view to_string(CloseReason reason);

}  // namespace connwatch::active
