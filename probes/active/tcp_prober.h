// tcp://host:port: the connection itself is the probe. A new connection proved itself by
// connecting; a pooled one is checked with the kernel (still ESTABLISHED, no RST, no FIN).
#pragma once

#include "probes/active/prober.h"

namespace connwatch::active {

boost::asio::awaitable<Exchange> probe_tcp(PooledConnection& connection,
                                           const ProbeRequest& request, bool reused);

}  // namespace connwatch::active
