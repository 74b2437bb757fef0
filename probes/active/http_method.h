// Which request methods may be sent again after a failure.
#pragma once

#include <string_view>

namespace connwatch::active {

// GET, HEAD, OPTIONS, TRACE, PUT, DELETE: the idempotent methods of RFC 9110 §9.2.2 (methods
// are case-sensitive, §9.1). Only these are retried, and only these are resent when a reused
// connection turns out stale.
bool is_idempotent_method(std::string_view method);

}  // namespace connwatch::active
