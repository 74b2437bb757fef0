// Runs one target's logical probes (blackbox_exporter's harness role): leases a connection from the
// target's pool, runs the kind's prober under request_timeout, classifies each attempt, retries
// idempotent probes with jittered backoff under a retry budget and Retry-After, resends at once on
// a stale pooled connection, and records every number in TargetMetrics. One probe at a time.
// Retry-After is a floor: the delay is the server's value plus the jittered backoff (TCP-NOTES
// §6); only a Retry-After longer than the interval ends the probe early (result exhausted, with a
// warning). A backoff alone longer than the interval is waited out like any other.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>
#include <optional>

#include "config/config.h"
#include "probes/active/active_metrics.h"
#include "probes/active/backoff.h"
#include "probes/active/connection_pool.h"
#include "probes/active/probe_report.h"
#include "probes/active/prober_registry.h"
#include "probes/active/retry_budget.h"
#include "probes/active/tls_peer_info.h"

namespace connwatch::active {

class ProbeHarness : public std::enable_shared_from_this<ProbeHarness> {
 public:
  // `tls` is used for https targets and must outlive the harness. `random` feeds the backoff
  // jitter (tests pin it). `metrics` may carry over from a previous harness of the same target.
  // `target_tls`, when set, is the context built for target.tls ahead of time (a /probe module's,
  // shared by its pools, built before the privilege drop); else a target with its own TLS settings
  // builds one per pool.
  static std::shared_ptr<ProbeHarness> create(
      const boost::asio::any_io_executor& executor, config::Target target,
      std::shared_ptr<TargetMetrics> metrics, boost::asio::ssl::context* tls,
      Backoff::Random random = {}, std::shared_ptr<boost::asio::ssl::context> target_tls = nullptr);
  ProbeHarness(const ProbeHarness&) = delete;
  ProbeHarness& operator=(const ProbeHarness&) = delete;

  // One logical probe: attempts, retries, metrics. A probe cut short by stop() or by a
  // reconfigure() that replaced the pool records nothing and returns nullopt. `budget` bounds the
  // whole probe on top of connect_timeout and request_timeout (a /probe scrape's deadline): past
  // it the attempt ends as a timeout and no retry starts.
  boost::asio::awaitable<std::optional<ProbeReport>> run(
      std::optional<std::chrono::steady_clock::duration> budget = std::nullopt);

  // Applies a reloaded config of the same target: the pool (and its connections) survive unless
  // the URL's scheme, host or port, the [pool] or TLS settings, or `target_tls` changed.
  void reconfigure(const config::Target& target,
                   std::shared_ptr<boost::asio::ssl::context> target_tls = nullptr);
  // Closes the pool (reason shutdown) and cancels a retry delay in progress.
  void stop();

  const config::Target& target() const { return target_; }
  TargetMetrics& metrics() { return *metrics_; }
  const std::shared_ptr<TargetMetrics>& shared_metrics() const { return metrics_; }
  const ConnectionPool& pool() const { return *pool_; }
  const std::optional<ProbeReport>& last() const { return last_; }

  // Whether a failed attempt may be tried again at all (before max_attempts and the budget):
  // every connection-level failure may; of the unexpected HTTP statuses only 408, 429 and 5xx
  // (a 404 will be a 404 again); never a body mismatch.
  static bool is_retryable(Outcome outcome, int http_status);

 private:
  ProbeHarness(const boost::asio::any_io_executor& executor, config::Target target,
               std::shared_ptr<TargetMetrics> metrics, boost::asio::ssl::context* tls,
               Backoff::Random random, std::shared_ptr<boost::asio::ssl::context> target_tls);

  struct Attempt {
    Outcome outcome = Outcome::kOther;
    int status = 0;
    int http_version = 0;
    int ip_family = 0;
    AttemptTimings timings;
    std::optional<TlsPeerInfo> tls;
    bool reused = false;
    bool abandoned = false;  // the pool stopped underneath
    int stale_resends = 0;
    std::optional<std::chrono::milliseconds> retry_after;
    std::string peer;
    std::optional<net::IpAddress> address;  // the IP talked to or last dialled
    std::optional<std::uint64_t> content_length;
    std::uint64_t body_bytes = 0;
    std::optional<std::int64_t> last_modified;
    std::string location;
    std::string error;
  };
  boost::asio::awaitable<Attempt> attempt(
      std::shared_ptr<ConnectionPool> pool, bool idempotent,
      std::optional<std::chrono::steady_clock::time_point> deadline_at);
  void observe(const AttemptTimings& timings);
  std::shared_ptr<ConnectionPool> make_pool() const;
  void warn_once(unsigned bit, const std::string& message);

  boost::asio::any_io_executor executor_;
  config::Target target_;
  const ProberEntry* prober_;
  ProbeRequest request_;
  std::shared_ptr<TargetMetrics> metrics_;
  boost::asio::ssl::context* tls_;
  std::shared_ptr<boost::asio::ssl::context> target_tls_;
  Backoff::Random random_;
  Backoff backoff_;
  RetryBudget budget_;
  std::shared_ptr<ConnectionPool> pool_;
  boost::asio::steady_timer retry_timer_;
  std::optional<ProbeReport> last_;
  bool stopped_ = false;
  unsigned warned_ = 0;
};

// The request a target sends: method, Host (default ports omitted), path, User-Agent.
ProbeRequest make_probe_request(const config::Target& target);

}  // namespace connwatch::active
