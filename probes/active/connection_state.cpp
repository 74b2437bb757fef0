#include "probes/active/connection_state.h"

namespace connwatch::active {

std::string_view to_string(ConnectionState state) {
  switch (state) {
    case ConnectionState::kNew:
      return "new";
    case ConnectionState::kConnecting:
      return "connecting";
    case ConnectionState::kIdle:
      return "idle";
    case ConnectionState::kBusy:
      return "busy";
    case ConnectionState::kClosed:
      return "closed";
  }
  return "closed";
}

}  // namespace connwatch::active
