// tcp://host:port: the connection itself is the probe. The pool dials a new connection for every
// tcp probe (ProberEntry::new_connection_per_probe), so connecting proves the path and the listener
// each time; the pool closes it gracefully afterwards (POOL.md "tcp:// targets").
#pragma once

#include "probes/active/prober.h"

namespace connwatch::active {

boost::asio::awaitable<Exchange> probe_tcp(PooledConnection& connection,
                                           const ProbeRequest& request, bool reused);

}  // namespace connwatch::active
