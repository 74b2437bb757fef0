#include "probes/passive/tcp_segment.h"

namespace connwatch::passive {

std::string_view to_string(Direction direction) {
  switch (direction) {
    case Direction::kUnknown:
      return "unknown";
    case Direction::kIncoming:
      return "incoming";
    case Direction::kOutgoing:
      return "outgoing";
  }
  return "unknown";
}

}  // namespace connwatch::passive
