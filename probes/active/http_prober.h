// http:// and https://: one HTTP/1.1 request with Boost.Beast on a pooled connection (plain or TLS;
// the pool did the handshake). Sends the target's headers and body; the response body is read and
// discarded, or its first MiB matched against fail_if_body_not_matches (Exchange::body_matched).
#pragma once

#include "probes/active/prober.h"

namespace connwatch::active {

boost::asio::awaitable<Exchange> probe_http(PooledConnection& connection,
                                            const ProbeRequest& request, bool reused);

}  // namespace connwatch::active
