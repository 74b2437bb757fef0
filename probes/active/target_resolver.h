// A target's addresses: resolved at first use and again after invalidate() (a connection reached
// max_lifetime: TCP-NOTES §5, clients that never re-resolve stay on a retired address). An IP
// literal of the wanted family is never looked up. `ip_protocol` (SPEC §3): ip4 / ip6 ask only for
// that family (a literal of the other family then fails as dns_error); auto puts IPv6 addresses
// first, IPv4 after, so connecting tries IPv6 and falls back to IPv4; ip4_first the other way
// round. Counts resolutions and changes of the address set in TargetMetrics.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "config/config.h"
#include "probes/active/active_metrics.h"

namespace connwatch::active {

// The order connecting tries `addresses` in: the preferred family first (IPv6 for auto, ip6; IPv4
// for ip4_first, ip4), each family kept in the resolver's (RFC 6724) order.
void order_by_family(std::vector<boost::asio::ip::tcp::endpoint>& addresses,
                     config::IpProtocol ip_protocol);

class TargetResolver {
 public:
  TargetResolver(const boost::asio::any_io_executor& executor, std::string host, std::uint16_t port,
                 TargetMetrics& metrics,
                 config::IpProtocol ip_protocol = config::IpProtocol::kAuto);

  bool is_literal() const { return literal_; }
  bool needs_resolution() const { return addresses_.empty() || (!literal_ && stale_); }
  // The next resolve() looks the name up again.
  void invalidate() { stale_ = !literal_; }

  struct Result {
    boost::system::error_code error;
    bool resolved = false;  // a lookup ran (the resolve phase is timed only then)
    bool changed = false;   // the address set differs from the previous lookup's
  };
  // Looks the name up if needs_resolution(); a no-op otherwise. Never throws. The caller bounds
  // it with a Deadline that calls cancel().
  boost::asio::awaitable<Result> resolve();
  void cancel() { resolver_.cancel(); }

  // In the resolver's order (getaddrinfo sorts per RFC 6724); empty before the first lookup.
  const std::vector<boost::asio::ip::tcp::endpoint>& addresses() const { return addresses_; }
  const std::string& host() const { return host_; }

  // Whether both families are looked up (auto, ip4_first).
  bool both_families() const {
    return ip_protocol_ == config::IpProtocol::kAuto ||
           ip_protocol_ == config::IpProtocol::kIp4First;
  }

 private:
  std::string host_;
  std::uint16_t port_;
  config::IpProtocol ip_protocol_;
  bool literal_ = false;
  bool stale_ = false;
  std::vector<boost::asio::ip::tcp::endpoint> addresses_;
  boost::asio::ip::tcp::resolver resolver_;
  TargetMetrics& metrics_;
};

}  // namespace connwatch::active
