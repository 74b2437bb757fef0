#include "probes/active/target_resolver.h"

#include <algorithm>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "probes/active/probe_error.h"

namespace connwatch::active {

namespace asio = boost::asio;
using asio::ip::tcp;

TargetResolver::TargetResolver(const asio::any_io_executor& executor, std::string host,
                               std::uint16_t port, TargetMetrics& metrics,
                               config::IpProtocol ip_protocol)
    : host_(std::move(host)),
      port_(port),
      ip_protocol_(ip_protocol),
      resolver_(executor),
      metrics_(metrics) {
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(host_, ec);
  if (!ec) {
    literal_ = true;
    const bool wanted =
        both_families() || (ip_protocol_ == config::IpProtocol::kIp6) == address.is_v6();
    if (wanted) addresses_.emplace_back(address, port_);
  }
}

void order_by_family(std::vector<tcp::endpoint>& addresses, config::IpProtocol ip_protocol) {
  const bool v6_first = ip_protocol != config::IpProtocol::kIp4First;
  std::stable_partition(addresses.begin(), addresses.end(), [v6_first](const tcp::endpoint& e) {
    return e.address().is_v6() == v6_first;
  });
}

asio::awaitable<TargetResolver::Result> TargetResolver::resolve() {
  Result result;
  if (!needs_resolution()) co_return result;
  result.resolved = true;
  metrics_.dns_resolution();
  boost::system::error_code ec;
  tcp::resolver::results_type answer;
  if (both_families()) {
    answer = co_await resolver_.async_resolve(host_, std::to_string(port_),
                                              tcp::resolver::numeric_service,
                                              asio::redirect_error(asio::use_awaitable, ec));
  } else {
    const tcp family = ip_protocol_ == config::IpProtocol::kIp6 ? tcp::v6() : tcp::v4();
    answer = co_await resolver_.async_resolve(family, host_, std::to_string(port_),
                                              tcp::resolver::numeric_service,
                                              asio::redirect_error(asio::use_awaitable, ec));
  }
  if (ec) {
    result.error = ec;
    co_return result;
  }
  std::vector<tcp::endpoint> fresh;
  for (const auto& entry : answer) {
    if (std::find(fresh.begin(), fresh.end(), entry.endpoint()) == fresh.end()) {
      fresh.push_back(entry.endpoint());
    }
  }
  order_by_family(fresh, ip_protocol_);
  if (fresh.empty()) {
    result.error = ProbeError::kNoAddresses;
    co_return result;
  }
  auto sorted = [](std::vector<tcp::endpoint> v) {
    std::sort(v.begin(), v.end());
    return v;
  };
  if (!addresses_.empty() && sorted(addresses_) != sorted(fresh)) {
    result.changed = true;
    metrics_.dns_address_change();
  }
  addresses_ = std::move(fresh);
  stale_ = false;
  co_return result;
}

}  // namespace connwatch::active
