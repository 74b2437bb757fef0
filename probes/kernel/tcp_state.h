// TCP socket states as the kernel reports them (include/net/tcp_states.h); the string is the
// `state` label value of connwatch_sockets.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace connwatch::kernel {

enum class TcpState {
  kEstablished,
  kSynSent,
  kSynRecv,
  kFinWait1,
  kFinWait2,
  kTimeWait,
  kClose,
  kCloseWait,
  kLastAck,
  kListen,
  kClosing,
};

inline constexpr std::size_t kTcpStateCount = 11;

inline constexpr std::array<TcpState, kTcpStateCount> kAllTcpStates = {
    TcpState::kEstablished, TcpState::kSynSent,  TcpState::kSynRecv, TcpState::kFinWait1,
    TcpState::kFinWait2,    TcpState::kTimeWait, TcpState::kClose,   TcpState::kCloseWait,
    TcpState::kLastAck,     TcpState::kListen,   TcpState::kClosing,
};

// "established", "syn_sent", ... "closing".
std::string_view to_string(TcpState state);

// Index into per-state arrays, 0 .. kTcpStateCount-1, in kAllTcpStates order.
constexpr std::size_t index_of(TcpState state) { return static_cast<std::size_t>(state); }

// The kernel's numbering (TCP_ESTABLISHED = 1 ... TCP_CLOSING = 11). TCP_NEW_SYN_RECV (12), the
// state of request sockets, is reported as syn_recv, as inet_diag itself does for them.
// Anything else (0, TCP_BOUND_INACTIVE, garbage) is nullopt.
std::optional<TcpState> tcp_state_from_kernel(std::uint8_t value);

// The kernel's number for a state: the bit to set in inet_diag_req_v2.idiag_states.
std::uint8_t kernel_value(TcpState state);

}  // namespace connwatch::kernel
