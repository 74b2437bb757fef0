#include "probes/active/probe_harness.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "connwatch/version.h"
#include "probes/active/asio_endpoint.h"
#include "probes/active/classify.h"
#include "probes/active/deadline.h"
#include "probes/active/http_method.h"
#include "probes/active/probe_error.h"
#include "probes/active/tls_client_context.h"

namespace connwatch::active {

namespace asio = boost::asio;

namespace {

using Clock = std::chrono::steady_clock;

constexpr unsigned kWarnStale = 1U << 0;
constexpr unsigned kWarnBudget = 1U << 1;
constexpr unsigned kWarnRetryAfter = 1U << 2;

bool same_pool_settings(const config::PoolSettings& a, const config::PoolSettings& b) {
  return a.max_connections == b.max_connections && a.idle_timeout == b.idle_timeout &&
         a.max_lifetime == b.max_lifetime && a.connect_timeout == b.connect_timeout &&
         a.request_timeout == b.request_timeout;
}

bool same_retry_settings(const config::RetrySettings& a, const config::RetrySettings& b) {
  return a.max_attempts == b.max_attempts && a.base_delay == b.base_delay &&
         a.max_delay == b.max_delay && a.jitter == b.jitter && a.budget_ratio == b.budget_ratio;
}

// Why a connection that cannot be reused is closed, from how its exchange ended.
CloseReason close_reason_for(const boost::system::error_code& ec, bool deadline_expired) {
  if (!ec) return CloseReason::kPeerClosed;  // complete, but `Connection: close`
  if (deadline_expired) return CloseReason::kError;
  switch (classify(ec, {})) {
    case Outcome::kReset:
      return CloseReason::kReset;
    case Outcome::kClosedEarly:
      return CloseReason::kPeerClosed;
    case Outcome::kSuccess:
    case Outcome::kRefused:
    case Outcome::kTimeout:
    case Outcome::kDnsError:
    case Outcome::kAddrNotAvailable:
    case Outcome::kFdExhausted:
    case Outcome::kTlsError:
    case Outcome::kHttpStatus:
    case Outcome::kBodyMismatch:
    case Outcome::kOther:
      break;
  }
  return CloseReason::kError;
}

}  // namespace

ProbeRequest make_probe_request(const config::Target& target) {
  ProbeRequest request;
  request.method = target.method.empty() ? "GET" : target.method;
  const auto& url = target.url;
  const bool default_port = (url.scheme == config::Scheme::kHttp && url.port == 80) ||
                            (url.scheme == config::Scheme::kHttps && url.port == 443);
  const bool v6 = url.host.find(':') != std::string::npos;
  request.host_header = default_port ? (v6 ? "[" + url.host + "]" : url.host) : url.authority();
  request.path = url.path.empty() ? "/" : url.path;
  request.user_agent = std::string("connwatch/") + kVersion;
  request.headers.assign(target.headers.begin(), target.headers.end());
  request.body = target.body;
  std::vector<std::string> patterns = target.fail_if_body_not_matches_more;
  if (!target.fail_if_body_not_matches.empty()) {
    patterns.insert(patterns.begin(), target.fail_if_body_not_matches);
  }
  for (const auto& pattern : patterns) {
    // The loaders compiled each once already; a pattern that fails here checks nothing.
    config::Regex::CompileError error;
    if (auto regex = config::Regex::compile(pattern, error)) {
      request.body_regexes.push_back(std::move(*regex));
    }
  }
  return request;
}

bool ProbeHarness::is_retryable(Outcome outcome, int http_status) {
  if (outcome == Outcome::kBodyMismatch) return false;  // the same page will not match either
  if (outcome != Outcome::kHttpStatus) return outcome != Outcome::kSuccess;
  return http_status == 408 || http_status == 429 || http_status >= 500;
}

std::shared_ptr<ProbeHarness> ProbeHarness::create(const asio::any_io_executor& executor,
                                                   config::Target target,
                                                   std::shared_ptr<TargetMetrics> metrics,
                                                   asio::ssl::context* tls, Backoff::Random random,
                                                   std::shared_ptr<asio::ssl::context> target_tls) {
  return std::shared_ptr<ProbeHarness>(new ProbeHarness(executor, std::move(target),
                                                        std::move(metrics), tls, std::move(random),
                                                        std::move(target_tls)));
}

ProbeHarness::ProbeHarness(const asio::any_io_executor& executor, config::Target target,
                           std::shared_ptr<TargetMetrics> metrics, asio::ssl::context* tls,
                           Backoff::Random random, std::shared_ptr<asio::ssl::context> target_tls)
    : executor_(executor),
      target_(std::move(target)),
      prober_(find_prober(target_.url.scheme)),
      request_(make_probe_request(target_)),
      metrics_(std::move(metrics)),
      tls_(tls),
      target_tls_(std::move(target_tls)),
      random_(std::move(random)),
      backoff_(target_.retry.base_delay, target_.retry.max_delay, target_.retry.jitter, random_),
      budget_(target_.retry.budget_ratio),
      pool_(make_pool()),
      retry_timer_(executor) {}

std::shared_ptr<ConnectionPool> ProbeHarness::make_pool() const {
  PoolOptions options;
  options.settings = target_.pool;
  options.host = target_.url.host;
  options.port = target_.url.port;
  options.tls = prober_ != nullptr && prober_->tls ? tls_ : nullptr;
  options.tls_server_name = target_.tls.server_name;
  options.ip_protocol = target_.ip_protocol;
  if (options.tls != nullptr && !target_.tls.is_default() && target_tls_) {
    options.tls_owned = target_tls_;
    options.tls = options.tls_owned.get();
  } else if (options.tls != nullptr && !target_.tls.is_default()) {
    std::string error;
    options.tls_owned = make_tls_client_context(target_.tls, error);
    options.tls = options.tls_owned.get();
    if (!error.empty()) spdlog::error("target {}: TLS settings: {}", target_.name, error);
  }
  options.talks_first_ok = prober_ != nullptr && prober_->talks_first_ok;
  options.new_connection_per_probe = prober_ != nullptr && prober_->new_connection_per_probe;
  return ConnectionPool::create(executor_, std::move(options), *metrics_);
}

void ProbeHarness::warn_once(unsigned bit, const std::string& message) {
  if ((warned_ & bit) != 0) return;
  warned_ |= bit;
  spdlog::warn("target {}: {}", target_.name, message);
}

void ProbeHarness::reconfigure(const config::Target& target,
                               std::shared_ptr<asio::ssl::context> target_tls) {
  const bool same_endpoint = target.url.scheme == target_.url.scheme &&
                             target.url.host == target_.url.host &&
                             target.url.port == target_.url.port;
  const bool new_pool = !same_endpoint || !same_pool_settings(target.pool, target_.pool) ||
                        target.tls != target_.tls || target.ip_protocol != target_.ip_protocol ||
                        target_tls != target_tls_;
  target_tls_ = std::move(target_tls);
  const bool new_retry = !same_retry_settings(target.retry, target_.retry);
  target_ = target;
  prober_ = find_prober(target_.url.scheme);
  request_ = make_probe_request(target_);
  if (new_retry) {
    backoff_ =
        Backoff(target_.retry.base_delay, target_.retry.max_delay, target_.retry.jitter, random_);
    budget_ = RetryBudget(target_.retry.budget_ratio);
  }
  if (new_pool && !stopped_) {
    pool_->stop();
    pool_ = make_pool();
  }
}

void ProbeHarness::stop() {
  stopped_ = true;
  pool_->stop();
  retry_timer_.cancel();
}

void ProbeHarness::observe(const AttemptTimings& timings) {
  if (timings.resolve) metrics_->phase(Phase::kResolve, *timings.resolve);
  if (timings.connect) metrics_->phase(Phase::kConnect, *timings.connect);
  if (timings.tls) metrics_->phase(Phase::kTls, *timings.tls);
  if (timings.processing) metrics_->phase(Phase::kProcessing, *timings.processing);
  if (timings.transfer) metrics_->phase(Phase::kTransfer, *timings.transfer);
}

asio::awaitable<ProbeHarness::Attempt> ProbeHarness::attempt(
    std::shared_ptr<ConnectionPool> pool, bool idempotent,
    std::optional<Clock::time_point> deadline_at) {
  Attempt result;
  for (bool resend = false;; resend = true) {
    AttemptTimings timings;
    const Lease lease = co_await pool->acquire(timings, resend, deadline_at);
    if (pool->stopped()) {
      result.abandoned = true;
      co_return result;
    }
    result.reused = lease.reused;
    if (!lease.connection) {
      result.outcome = classify(lease.error, {lease.phase, lease.deadline_expired, 0, true});
      result.error = lease.error.message();
      // The family the failed connect went to (blackbox's probe_ip_protocol), not the first
      // address the resolver holds: 0 when nothing was dialled.
      if (lease.dialled) {
        result.ip_family = lease.dialled->address().is_v6() ? 6 : 4;
        result.address = to_net_endpoint(*lease.dialled).address;
      }
      result.timings = timings;
      observe(timings);
      co_return result;
    }
    const auto connection = lease.connection;
    result.peer = endpoint_text(connection->peer);
    result.ip_family = connection->peer.address().is_v6() ? 6 : 4;
    result.address = to_net_endpoint(connection->peer).address;
    if (auto* tls = connection->tls()) result.tls = tls_peer_info(tls->native_handle());
    Exchange exchange;
    bool expired = false;
    {
      // request_timeout bounds the whole exchange (and the probe's budget, when it has one);
      // closing the socket ends any pending I/O.
      auto timeout = std::chrono::duration_cast<Clock::duration>(target_.pool.request_timeout);
      if (deadline_at)
        timeout = std::clamp(*deadline_at - Clock::now(), Clock::duration{}, timeout);
      Deadline deadline(executor_, timeout, [pool, connection] {
        pool->record_tcp_info(*connection);  // what it retransmitted while nothing answered
        boost::system::error_code ignored;
        connection->socket().close(ignored);
      });
      exchange = co_await prober_->probe(*connection, request_, lease.reused);
      expired = deadline.expired();
    }
    pool->record_tcp_info(*connection);
    if (pool->stopped()) {
      result.abandoned = true;
      co_return result;
    }
    // The stale pooled connection (TCP-NOTES §5): reused, dead before any response byte. Go's
    // transport resends such a request once; so do we, on a new connection, without counting it
    // as a failed attempt or against the retry budget.
    if (lease.reused && !resend && idempotent && exchange.error && !exchange.response_started &&
        !expired && is_stale_connection_error(exchange.error)) {
      metrics_->stale_reset();
      ++result.stale_resends;
      warn_once(kWarnStale,
                fmt::format("a reused connection failed before any response byte ({}); resent on "
                            "a new connection. The server closes idle connections sooner than "
                            "pool.idle_timeout ({} ms) allows for",
                            exchange.error.message(), target_.pool.idle_timeout.count()));
      pool->release(connection, {false, std::nullopt, close_reason_for(exchange.error, false)});
      continue;
    }
    timings.processing = exchange.processing;
    timings.transfer = exchange.transfer;
    const bool expected = exchange.status == 0 ||
                          std::find(target_.expect_status.begin(), target_.expect_status.end(),
                                    exchange.status) != target_.expect_status.end();
    result.outcome = classify(exchange.error, {exchange.phase, expired, exchange.status, expected,
                                               exchange.body_matched});
    result.status = exchange.status;
    result.http_version = exchange.version;
    result.retry_after = exchange.retry_after;
    result.content_length = exchange.content_length;
    result.body_bytes = exchange.body_bytes;
    result.last_modified = exchange.last_modified;
    result.location = exchange.location;
    if (exchange.error) result.error = expired ? "request timeout" : exchange.error.message();
    if (result.outcome == Outcome::kHttpStatus) {
      result.error = fmt::format("unexpected HTTP status {}", exchange.status);
    }
    if (result.outcome == Outcome::kBodyMismatch) result.error = exchange.body_error;
    Release how;
    how.reusable = !exchange.error && !expired && exchange.reusable;
    how.server_keep_alive = exchange.keep_alive_timeout;
    how.reason = close_reason_for(exchange.error, expired);
    pool->release(connection, how);
    result.timings = timings;
    observe(timings);
    co_return result;
  }
}

namespace {

std::optional<double> seconds_of(const std::optional<Clock::duration>& d) {
  if (!d) return std::nullopt;
  return std::chrono::duration<double>(*d).count();
}

}  // namespace

asio::awaitable<std::optional<ProbeReport>> ProbeHarness::run(
    std::optional<Clock::duration> budget) {
  const auto self = shared_from_this();
  if (stopped_ || prober_ == nullptr) co_return std::nullopt;
  ProbeReport report;
  report.started_at = std::chrono::system_clock::now();
  const auto started = Clock::now();
  std::optional<Clock::time_point> deadline_at;
  if (budget) deadline_at = started + *budget;
  const auto pool = pool_;  // a reconfigure() may replace pool_ meanwhile
  budget_.on_probe();
  backoff_.reset();
  const bool idempotent =
      target_.url.scheme == config::Scheme::kTcp || is_idempotent_method(request_.method);
  const int max_attempts = std::max(1, target_.retry.max_attempts);
  for (;;) {
    const Attempt a = co_await attempt(pool, idempotent, deadline_at);
    if (a.abandoned || stopped_) co_return std::nullopt;
    ++report.attempts;
    report.stale_resends += a.stale_resends;
    report.outcome = a.outcome;
    report.http_status = a.status;
    report.connection_reused = a.reused;
    report.peer = a.peer;
    report.error = a.error;
    report.phase_seconds[index_of(Phase::kResolve)] = seconds_of(a.timings.resolve);
    report.phase_seconds[index_of(Phase::kConnect)] = seconds_of(a.timings.connect);
    report.phase_seconds[index_of(Phase::kTls)] = seconds_of(a.timings.tls);
    report.phase_seconds[index_of(Phase::kProcessing)] = seconds_of(a.timings.processing);
    report.phase_seconds[index_of(Phase::kTransfer)] = seconds_of(a.timings.transfer);
    report.ip_family = a.ip_family;
    report.http_version = a.http_version;
    report.ip_address = a.address;
    report.http_content_length = a.content_length;
    report.http_body_bytes = a.body_bytes;
    report.http_last_modified = a.last_modified;
    report.http_location = a.location;
    report.tls = a.tls.has_value();
    if (a.tls) {
      report.tls_earliest_cert_expiry = a.tls->earliest_cert_expiry;
      report.tls_version = a.tls->version;
    }
    metrics_->attempt(a.outcome);
    if (a.outcome == Outcome::kSuccess) {
      report.success = true;
      report.result = report.retries > 0 ? ProbeResult::kAfterRetry : ProbeResult::kFirstTry;
      break;
    }
    if (!idempotent || !is_retryable(a.outcome, a.status)) {
      report.result = ProbeResult::kNotRetryable;
      break;
    }
    if (report.attempts >= max_attempts) {
      report.result = ProbeResult::kExhausted;
      break;
    }
    auto delay = std::chrono::duration_cast<std::chrono::microseconds>(backoff_.next());
    if (deadline_at && Clock::now() + delay >= *deadline_at) {
      report.result = ProbeResult::kExhausted;  // no time left in the budget for another attempt
      break;
    }
    if (a.retry_after) {
      // The server asked (Retry-After): a floor, with the jittered backoff above it so that clients
      // told the same time do not all come back at once (TCP-NOTES §6, RFC 9110 §10.2.3).
      if (*a.retry_after > target_.interval) {
        warn_once(kWarnRetryAfter,
                  fmt::format("the server asked to retry after {} ms (Retry-After), longer than "
                              "the probe interval; not retrying",
                              a.retry_after->count()));
        report.result = ProbeResult::kExhausted;
        break;
      }
      delay += std::chrono::duration_cast<std::chrono::microseconds>(*a.retry_after);
    }
    if (!budget_.try_acquire_retry()) {
      warn_once(kWarnBudget, fmt::format("retry budget exhausted (budget_ratio {}): failing "
                                         "without retry",
                                         target_.retry.budget_ratio));
      report.result = ProbeResult::kBudgetDenied;
      break;
    }
    ++report.retries;
    report.retry_delays_seconds.push_back(std::chrono::duration<double>(delay).count());
    metrics_->retry();
    boost::system::error_code ec;
    retry_timer_.expires_after(delay);
    co_await retry_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (stopped_ || pool->stopped()) co_return std::nullopt;
  }
  const auto elapsed = Clock::now() - started;
  report.duration_seconds = std::chrono::duration<double>(elapsed).count();
  const bool http = target_.url.scheme != config::Scheme::kTcp;
  metrics_->probe(elapsed, report.success, report.result,
                  http ? std::optional<int>(report.http_status) : std::nullopt);
  last_ = report;
  co_return report;
}

}  // namespace connwatch::active
