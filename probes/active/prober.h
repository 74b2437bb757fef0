// The one interface every probe kind implements (blackbox_exporter's ProbeFn, as a coroutine): one
// exchange on a connection the harness leased from the pool. The prober only does I/O and reports
// what it saw; the harness (ProbeHarness) owns deadlines, success, duration, retries and the pool.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/system/error_code.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/regex.h"
#include "probes/active/outcome.h"
#include "probes/active/pooled_connection.h"

namespace connwatch::active {

// What to send, built once per target from its config.
struct ProbeRequest {
  std::string method = "GET";
  std::string host_header;  // host[:port] as the URL had it
  std::string path = "/";
  std::string user_agent;
  std::vector<std::pair<std::string, std::string>> headers;  // after the defaults; may replace them
  std::string body;                                          // sent with Content-Length when set
  // fail_if_body_not_matches (and a module's further ones), compiled once; every one must match.
  // Empty: the body is read and discarded unchecked.
  std::vector<config::Regex> body_regexes;
};

// What one exchange saw.
struct Exchange {
  boost::system::error_code error;
  Phase phase = Phase::kProcessing;  // where it failed
  bool response_started = false;     // at least one response byte arrived
  int status = 0;                    // 0: no status line
  int version = 0;                   // HTTP version of the status line: 10, 11; 0: none
  bool body_matched = true;          // the complete body matched request.body_regexes (if any)
  std::string body_error;            // why body_matched is false, for the probe's error text
  bool reusable = false;             // complete, and the server keeps the connection open
  std::optional<std::chrono::seconds> keep_alive_timeout;         // Keep-Alive: timeout=N
  std::optional<std::chrono::milliseconds> retry_after;           // Retry-After, from now
  std::optional<std::chrono::steady_clock::duration> processing;  // request sent .. first byte
  std::optional<std::chrono::steady_clock::duration> transfer;    // first byte .. complete
  std::optional<std::uint64_t> content_length;  // the Content-Length header; none: not sent
  std::uint64_t body_bytes = 0;                 // body bytes read (after de-chunking)
  std::optional<std::int64_t> last_modified;    // the Last-Modified header, Unix seconds
  std::string location;                         // the Location header of a 3xx response
};

// `reused`: the connection served an earlier request (a tcp probe then checks it is still open).
using ProbeFunction = boost::asio::awaitable<Exchange> (*)(PooledConnection& connection,
                                                           const ProbeRequest& request,
                                                           bool reused);

}  // namespace connwatch::active
