#include "probes/active/tcp_prober.h"

#include <boost/asio/error.hpp>

#include "probes/active/probe_error.h"
#include "probes/active/socket_health.h"

namespace connwatch::active {

boost::asio::awaitable<Exchange> probe_tcp(PooledConnection& connection, const ProbeRequest&,
                                           bool reused) {
  Exchange exchange;
  exchange.reusable = true;
  if (!reused) co_return exchange;
  switch (inspect_socket(connection.socket().native_handle())) {
    case SocketHealth::kOpen:
      break;
    case SocketHealth::kUnsolicitedData:
      // A tcp target may talk first (SMTP, SSH banners); that is not a failure.
      break;
    case SocketHealth::kReset:
      exchange.error = boost::asio::error::connection_reset;
      exchange.reusable = false;
      break;
    case SocketHealth::kPeerClosed:
    case SocketHealth::kError:
      exchange.error = ProbeError::kConnectionClosed;
      exchange.reusable = false;
      break;
  }
  co_return exchange;
}

}  // namespace connwatch::active
