// The resolver's and the socket's endpoints (Boost.Asio) as the one endpoint type and text of
// net/endpoint.h, so a pool's `peer` reads as the kernel's `destination` for the same address.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <string>

#include "net/endpoint.h"

namespace connwatch::active {

// The address's family as Asio holds it (an IPv4-mapped IPv6 address stays IPv6), with the IPv6
// scope id.
net::Endpoint to_net_endpoint(const boost::asio::ip::tcp::endpoint& endpoint);
// "192.0.2.1:443", "[2001:db8::1]:443": net::Endpoint::to_string() of the above.
std::string endpoint_text(const boost::asio::ip::tcp::endpoint& endpoint);

}  // namespace connwatch::active
