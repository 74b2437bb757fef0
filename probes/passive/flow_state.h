// FlowState: the closed set of states a tracked TCP connection is in, as the capture sees it
// (SYN/FIN/RST only). The transitions are FlowTracker::transition(); probes/passive/FLOWS.md
// draws them and says what every segment does in every state.
#pragma once

#include <cstdint>
#include <string_view>

namespace connwatch::passive {

enum class FlowState : std::uint8_t {
  kNew,          // the entry was just created; no segment applied yet
  kSynSent,      // a SYN, no answer yet (opening: flow_idle_timeout)
  kEstablished,  // a SYN-ACK seen (established_timeout: quiet is not idle)
  kHalfClosed,   // one side's FIN (the other side may send for hours: established_timeout)
  kClosed,       // both FINs: TIME_WAIT counted; lingers 60 s for retransmissions
  kReset,        // a RST ended it; lingers 60 s to catch what an injected RST gives away
  kAlias,        // the same connection seen through NAT: forwards to the flow it aliases
};

// The segment classes the tracker reacts to; a RST wins over the other flags.
enum class SegmentKind : std::uint8_t { kSyn, kSynAck, kFin, kRst };

std::string_view to_string(FlowState state);
std::string_view to_string(SegmentKind kind);

}  // namespace connwatch::passive
