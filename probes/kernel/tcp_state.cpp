#include "probes/kernel/tcp_state.h"

namespace connwatch::kernel {

std::string_view to_string(TcpState state) {
  switch (state) {
    case TcpState::kEstablished:
      return "established";
    case TcpState::kSynSent:
      return "syn_sent";
    case TcpState::kSynRecv:
      return "syn_recv";
    case TcpState::kFinWait1:
      return "fin_wait1";
    case TcpState::kFinWait2:
      return "fin_wait2";
    case TcpState::kTimeWait:
      return "time_wait";
    case TcpState::kClose:
      return "close";
    case TcpState::kCloseWait:
      return "close_wait";
    case TcpState::kLastAck:
      return "last_ack";
    case TcpState::kListen:
      return "listen";
    case TcpState::kClosing:
      return "closing";
  }
  return "unknown";
}

std::optional<TcpState> tcp_state_from_kernel(std::uint8_t value) {
  // TCP_NEW_SYN_RECV: request sockets; inet_req_diag_fill reports them as TCP_SYN_RECV.
  constexpr std::uint8_t kNewSynRecv = 12;
  if (value == kNewSynRecv) return TcpState::kSynRecv;
  if (value < 1 || value > kTcpStateCount) return std::nullopt;
  return kAllTcpStates[value - 1];
}

std::uint8_t kernel_value(TcpState state) { return static_cast<std::uint8_t>(index_of(state) + 1); }

}  // namespace connwatch::kernel
