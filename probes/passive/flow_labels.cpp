#include "probes/passive/flow_labels.h"

namespace connwatch::passive {

std::string_view to_string(ResetSender sender) {
  switch (sender) {
    case ResetSender::kClient:
      return "client";
    case ResetSender::kServer:
      return "server";
    case ResetSender::kUnknown:
      return "unknown";
  }
  return "unknown";
}

std::string_view to_string(ResetPhase phase) {
  switch (phase) {
    case ResetPhase::kHandshake:
      return "handshake";
    case ResetPhase::kEstablished:
      return "established";
    case ResetPhase::kClosing:
      return "closing";
  }
  return "established";
}

std::string_view to_string(CloseHow how) {
  switch (how) {
    case CloseHow::kFin:
      return "fin";
    case CloseHow::kReset:
      return "reset";
  }
  return "reset";
}

std::string_view to_string(TimeWaitSide side) {
  switch (side) {
    case TimeWaitSide::kClient:
      return "client";
    case TimeWaitSide::kServer:
      return "server";
  }
  return "client";
}

std::string PortLabel::to_string() const {
  return is_other() ? std::string("other") : std::to_string(value_);
}

}  // namespace connwatch::passive
