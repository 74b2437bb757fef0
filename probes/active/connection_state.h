// Where a pooled connection is in the pool's state machine (POOL.md).
#pragma once

#include <string_view>

namespace connwatch::active {

// kNew: made, not yet in the pool; its first transition (to kConnecting) puts it in.
enum class ConnectionState { kNew, kConnecting, kIdle, kBusy, kClosed };
std::string_view to_string(ConnectionState state);

}  // namespace connwatch::active
