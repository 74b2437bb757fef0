#include "probes/active/http_prober.h"

#include <algorithm>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/optional.hpp>
#include <limits>
#include <string>

#include "probes/active/keep_alive.h"
#include "probes/active/retry_after.h"

namespace connwatch::active {

namespace asio = boost::asio;
namespace http = boost::beast::http;

namespace {

using Clock = std::chrono::steady_clock;

// The most body fail_if_body_not_matches looks at; the rest is read and discarded.
constexpr std::size_t kMaxMatchedBody = 1 << 20;

http::request<http::string_body> make_request(const ProbeRequest& r) {
  http::request<http::string_body> request;
  const http::verb verb = http::string_to_verb(r.method);
  if (verb == http::verb::unknown) {
    request.method_string(r.method);
  } else {
    request.method(verb);
  }
  request.target(r.path.empty() ? "/" : r.path);
  request.version(11);
  request.set(http::field::host, r.host_header);
  request.set(http::field::user_agent, r.user_agent);
  request.set(http::field::accept, "*/*");
  for (const auto& [name, value] : r.headers) request.set(name, value);
  request.keep_alive(true);
  request.body() = r.body;
  request.prepare_payload();
  return request;
}

template <typename Stream>
asio::awaitable<Exchange> exchange_on(Stream& stream, PooledConnection& connection,
                                      const ProbeRequest& r) {
  Exchange exchange;
  boost::system::error_code ec;
  const auto sent_at = Clock::now();
  auto request = make_request(r);
  co_await http::async_write(stream, request, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    exchange.error = ec;
    exchange.phase = Phase::kProcessing;
    co_return exchange;
  }

  // The first read on its own: it tells "no response byte at all" (a stale pooled connection,
  // TCP-NOTES §5) from a response cut short, and it ends the processing phase.
  auto& buffer = connection.buffer();
  buffer.clear();
  const std::size_t n = co_await stream.async_read_some(
      buffer.prepare(4096), asio::redirect_error(asio::use_awaitable, ec));
  buffer.commit(n);
  const auto first_byte_at = Clock::now();
  exchange.processing = first_byte_at - sent_at;
  if (n == 0) {
    exchange.error = ec ? ec : make_error_code(asio::error::eof);
    exchange.phase = Phase::kProcessing;
    co_return exchange;
  }
  exchange.response_started = true;

  http::response_parser<http::buffer_body> parser;
  // Bounded by request_timeout instead. Not boost::none: Boost 1.74 compares the length against
  // the optional, and any value is greater than none ("body limit exceeded" on every body).
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  if (request.method() == http::verb::head) parser.skip(true);
  co_await http::async_read_header(stream, buffer, parser,
                                   asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    exchange.error = ec;
    exchange.phase = Phase::kTransfer;
    exchange.transfer = Clock::now() - first_byte_at;
    co_return exchange;
  }
  const auto& head = parser.get();
  exchange.status = head.result_int();
  exchange.version = static_cast<int>(head.version());
  if (const auto it = head.find(http::field::keep_alive); it != head.end()) {
    exchange.keep_alive_timeout = parse_keep_alive_timeout(it->value());
  }
  if (const auto it = head.find(http::field::retry_after); it != head.end()) {
    exchange.retry_after = parse_retry_after(it->value(), std::chrono::system_clock::now());
  }
  if (const auto length = parser.content_length()) exchange.content_length = *length;
  if (exchange.status >= 300 && exchange.status < 400) {
    if (const auto it = head.find(http::field::location); it != head.end()) {
      exchange.location = std::string(it->value());
    }
  }
  if (const auto it = head.find(http::field::last_modified); it != head.end()) {
    if (const auto when = parse_http_date(it->value())) {
      exchange.last_modified =
          std::chrono::duration_cast<std::chrono::seconds>(when->time_since_epoch()).count();
    }
  }

  char scratch[8192];
  std::string body;
  while (!parser.is_done()) {
    parser.get().body().data = scratch;
    parser.get().body().size = sizeof scratch;
    co_await http::async_read(stream, buffer, parser,
                              asio::redirect_error(asio::use_awaitable, ec));
    if (ec == http::error::need_buffer) ec = {};
    const std::size_t got = sizeof scratch - parser.get().body().size;
    exchange.body_bytes += got;
    if (!r.body_regexes.empty() && body.size() < kMaxMatchedBody) {
      body.append(scratch, std::min(got, kMaxMatchedBody - body.size()));
    }
    if (ec) break;
  }
  exchange.transfer = Clock::now() - first_byte_at;
  if (ec) {
    exchange.error = ec;
    exchange.phase = Phase::kTransfer;
    co_return exchange;
  }
  exchange.reusable = parser.keep_alive();
  for (const auto& regex : r.body_regexes) {
    std::string error;  // PCRE2's match limits: a mismatch, not a crash
    exchange.body_matched = regex.search(body, error);
    if (!exchange.body_matched) {
      exchange.body_error = error.empty() ? "the body does not match fail_if_body_not_matches \"" +
                                                regex.pattern() + "\""
                                          : "fail_if_body_not_matches: " + error;
      break;
    }
  }
  co_return exchange;
}

}  // namespace

asio::awaitable<Exchange> probe_http(PooledConnection& connection, const ProbeRequest& request,
                                     bool) {
  if (auto* tls = connection.tls()) co_return co_await exchange_on(*tls, connection, request);
  co_return co_await exchange_on(connection.socket(), connection, request);
}

}  // namespace connwatch::active
