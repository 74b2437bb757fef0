// What one logical probe of a target did: its result, its last attempt's outcome, its retries.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "net/ip_address.h"
#include "probes/active/outcome.h"

namespace connwatch::active {

struct ProbeReport {
  std::chrono::system_clock::time_point started_at{};
  ProbeResult result = ProbeResult::kExhausted;
  Outcome outcome = Outcome::kOther;  // the last attempt's
  bool success = false;
  int http_status = 0;  // of the last attempt; 0 when no status line arrived
  double duration_seconds = 0;
  int attempts = 0;  // counted attempts (a stale-connection resend is not one)
  int retries = 0;
  int stale_resends = 0;  // reused connections found dead before any response byte
  std::vector<double> retry_delays_seconds;
  bool connection_reused = false;  // the last attempt ran on a pooled connection
  std::string peer;                // the address the last attempt talked to, "ip:port"
  std::string error;               // the last attempt's error, empty on success

  // The last attempt in detail, for /probe's answer (blackbox_exporter's families):
  // its phase times in seconds, by index_of(Phase); a phase that did not run is empty.
  std::array<std::optional<double>, kAllPhases.size()> phase_seconds{};
  int ip_family = 0;  // 4 or 6: the address it talked to or last dialled; 0 when none was dialled
  int http_version = 0;  // 10, 11 from the status line; 0 without one
  bool tls = false;      // it ran over TLS (the handshake completed)
  std::optional<std::int64_t> tls_earliest_cert_expiry;  // Unix seconds, tls only
  std::string tls_version;                               // "TLS 1.3"; tls only
  std::optional<net::IpAddress> ip_address;  // the address of ip_family; none when none was dialled
  std::optional<std::uint64_t> http_content_length;  // Content-Length; none: not sent
  std::uint64_t http_body_bytes = 0;                 // body bytes read (after de-chunking)
  std::optional<std::int64_t> http_last_modified;    // Last-Modified, Unix seconds
  std::string http_location;                         // Location of a 3xx response ("" otherwise)
  int http_redirects = 0;  // redirects /probe followed before this answer (probe_endpoint.cpp)
};

}  // namespace connwatch::active
