#include "probes/active/asio_endpoint.h"

namespace connwatch::active {

net::Endpoint to_net_endpoint(const boost::asio::ip::tcp::endpoint& endpoint) {
  const auto address = endpoint.address();
  if (address.is_v4()) {
    return {net::IpAddress::v4(address.to_v4().to_bytes()), endpoint.port(), 0};
  }
  const auto v6 = address.to_v6();
  return {net::IpAddress::v6(v6.to_bytes()), endpoint.port(),
          static_cast<std::uint32_t>(v6.scope_id())};
}

std::string endpoint_text(const boost::asio::ip::tcp::endpoint& endpoint) {
  return to_net_endpoint(endpoint).to_string();
}

}  // namespace connwatch::active
