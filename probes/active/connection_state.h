// Where a pooled connection is in the pool's state machine (POOL.md).
#pragma once

#include <string_view>

namespace connwatch::active {

enum class ConnectionState { kConnecting, kIdle, kBusy, kClosed };
std::string_view to_string(ConnectionState state);

}  // namespace connwatch::active
