// One target's connection pool: an explicit state machine (see POOL.md for the diagram).
// Connections live in one list per state (connecting, idle, busy; closed ones are kept in a short
// history) and change state only through transition(). Idle connections are watched: a peer FIN or
// RST retires them at once and records how long they had been idle. Single-threaded: every call and
// every handler runs on the executor's one thread. Never throws on the data path.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "probes/active/active_metrics.h"
#include "probes/active/close_reason.h"
#include "probes/active/outcome.h"
#include "probes/active/pool_view.h"
#include "probes/active/pooled_connection.h"
#include "probes/active/socket_health.h"
#include "probes/active/target_resolver.h"

namespace connwatch::active {

// The phase times of one attempt; a phase that did not run stays empty.
struct AttemptTimings {
  using Duration = std::chrono::steady_clock::duration;
  std::optional<Duration> resolve;
  std::optional<Duration> connect;
  std::optional<Duration> tls;
  std::optional<Duration> processing;
  std::optional<Duration> transfer;
};

// A connection handed out by acquire(), or why there is none.
struct Lease {
  std::shared_ptr<PooledConnection> connection;
  bool reused = false;
  boost::system::error_code error;
  Phase phase = Phase::kConnect;  // where acquiring failed
  bool deadline_expired = false;  // connect_timeout ran out
  // The last address a connect was tried to (the one whose failure or timeout ended it); unset
  // when none was (a lookup that failed, no free slot in time).
  std::optional<boost::asio::ip::tcp::endpoint> dialled;
};

// How a request left its connection.
struct Release {
  bool reusable = false;                                  // the exchange completed, keep-alive
  std::optional<std::chrono::seconds> server_keep_alive;  // Keep-Alive: timeout=N
  CloseReason reason = CloseReason::kError;               // why, when not reusable
};

struct PoolOptions {
  config::PoolSettings settings;
  std::string host;  // resolved, and the TLS server name (SNI, certificate check)
  std::uint16_t port = 0;
  boost::asio::ssl::context* tls = nullptr;              // null: plain TCP
  std::shared_ptr<boost::asio::ssl::context> tls_owned;  // keeps `tls` alive when the pool's own
  std::string tls_server_name;  // SNI and certificate name when set; else `host`
  config::IpProtocol ip_protocol = config::IpProtocol::kAuto;  // which addresses to connect to
  bool talks_first_ok = false;  // tcp://: bytes on an idle connection are read and dropped
  // tcp://: no connection is kept idle; each is closed after its request (reason idle_timeout: its
  // idle timeout is zero) and gracefully: unread bytes drained, our FIN, the peer's FIN awaited for
  // at most kCloseLinger, so the peer never sees an RST from us.
  bool new_connection_per_probe = false;
};

class ConnectionPool : public std::enable_shared_from_this<ConnectionPool> {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::size_t kClosedHistory = 16;
  // An idle connection that received bytes gets this long for the FIN that usually follows (a 408
  // or a TLS close_notify precedes the FIN by microseconds).
  static constexpr std::chrono::milliseconds kSettleTime{100};
  // How long a graceful close keeps reading (and dropping) for the peer's FIN before closing.
  static constexpr std::chrono::milliseconds kCloseLinger{1000};

  // Called after every state change, with the state left and the state entered (a connection's
  // first is kNew -> kConnecting); `reason` matters only for kClosed. For tests and debugging.
  using TransitionObserver = std::function<void(std::uint64_t id, ConnectionState from,
                                                ConnectionState to, CloseReason reason)>;

  static std::shared_ptr<ConnectionPool> create(const boost::asio::any_io_executor& executor,
                                                PoolOptions options, TargetMetrics& metrics);
  ~ConnectionPool();
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  // A healthy idle connection (most recently used first), or a new one: resolve if needed, connect,
  // TLS handshake, all within connect_timeout (and before `not_after` when given: a /probe
  // scrape's deadline). `require_new` skips the idle ones (the resend after a stale reuse). Waits
  // for a slot when max_connections are open and none is idle.
  boost::asio::awaitable<Lease> acquire(AttemptTimings& timings, bool require_new = false,
                                        std::optional<Clock::time_point> not_after = std::nullopt);

  // Gives a leased connection back: it becomes idle, or is closed (not reusable, retired, or the
  // idle timeout in force is zero). Ignored for a connection the pool already closed.
  void release(const std::shared_ptr<PooledConnection>& connection, const Release& how);

  // Closes every connection (reason shutdown) and fails waiters; acquire() fails afterwards.
  void stop();
  bool stopped() const { return stopped_; }

  // Adds the connection's TCP_INFO to the target's metrics: its smoothed RTT becomes
  // connwatch_probe_tcp_rtt_seconds, its tcpi_total_retrans growth since the last call goes to
  // connwatch_probe_tcp_retransmits_total. Nothing when the socket is closed or has no RTT yet.
  void record_tcp_info(PooledConnection& connection);

  void set_transition_observer(TransitionObserver observer) { observer_ = std::move(observer); }

  PoolView view() const;
  const TargetResolver& resolver() const { return resolver_; }
  const PoolOptions& options() const { return options_; }

 private:
  using ConnectionPtr = std::shared_ptr<PooledConnection>;

  ConnectionPool(const boost::asio::any_io_executor& executor, PoolOptions options,
                 TargetMetrics& metrics);

  // The one place a connection changes state.
  void transition(const ConnectionPtr& c, ConnectionState to,
                  CloseReason reason = CloseReason::kError);
  std::vector<ConnectionPtr>* list_for(ConnectionState state);
  void close_socket(const ConnectionPtr& c, CloseReason reason);
  int open_count() const;

  ConnectionPtr take_idle();
  SocketHealth health_of(PooledConnection& c) const;
  bool lifetime_expired(const PooledConnection& c, Clock::time_point now) const;
  void close_idle(const ConnectionPtr& c, SocketHealth health, Clock::time_point seen_at);
  void watch_idle(const ConnectionPtr& c);
  void arm_idle_timer(const ConnectionPtr& c, std::chrono::steady_clock::duration wait,
                      CloseReason reason);
  void drain_old_addresses();
  boost::asio::awaitable<bool> wait_for_slot(Clock::time_point deadline);
  void notify_waiter();
  void update_gauges();
  void warn_once(unsigned bit, const std::string& message);

  boost::asio::any_io_executor executor_;
  PoolOptions options_;
  TargetMetrics& metrics_;
  TargetResolver resolver_;
  bool stopped_ = false;
  std::uint64_t next_id_ = 0;
  std::vector<ConnectionPtr> connecting_;
  std::vector<ConnectionPtr> idle_;  // least recently used first
  std::vector<ConnectionPtr> busy_;
  std::deque<PoolView::Closed> closed_;
  std::deque<std::weak_ptr<boost::asio::steady_timer>> waiters_;
  std::chrono::milliseconds last_idle_timeout_;
  std::optional<std::chrono::seconds> last_server_keep_alive_;
  unsigned warned_ = 0;
  TransitionObserver observer_;
};

}  // namespace connwatch::active
