#include "probes/passive/flow_state.h"

namespace connwatch::passive {

std::string_view to_string(FlowState state) {
  switch (state) {
    case FlowState::kNew:
      return "new";
    case FlowState::kSynSent:
      return "syn_sent";
    case FlowState::kEstablished:
      return "established";
    case FlowState::kHalfClosed:
      return "half_closed";
    case FlowState::kClosed:
      return "closed";
    case FlowState::kReset:
      return "reset";
    case FlowState::kAlias:
      return "alias";
  }
  return "new";
}

std::string_view to_string(SegmentKind kind) {
  switch (kind) {
    case SegmentKind::kSyn:
      return "syn";
    case SegmentKind::kSynAck:
      return "syn_ack";
    case SegmentKind::kFin:
      return "fin";
    case SegmentKind::kRst:
      return "rst";
  }
  return "syn";
}

}  // namespace connwatch::passive
