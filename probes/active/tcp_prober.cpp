#include "probes/active/tcp_prober.h"

namespace connwatch::active {

boost::asio::awaitable<Exchange> probe_tcp(PooledConnection&, const ProbeRequest&, bool) {
  // The handshake the pool just completed is the answer; nothing is sent. `reusable` lets the pool
  // close the connection as a completed one (gracefully), not as a failed one.
  Exchange exchange;
  exchange.reusable = true;
  co_return exchange;
}

}  // namespace connwatch::active
