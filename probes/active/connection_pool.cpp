#include "probes/active/connection_pool.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <boost/asio/connect.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "probes/active/asio_endpoint.h"
#include "probes/active/deadline.h"
#include "probes/active/keep_alive.h"
#include "probes/active/probe_error.h"

namespace connwatch::active {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

constexpr unsigned kWarnPeerClosed = 1U << 0;
constexpr unsigned kWarnUnsolicited = 1U << 1;
constexpr unsigned kWarnWaiting = 1U << 2;
constexpr unsigned kWarnAddressChange = 1U << 3;

double seconds_between(std::chrono::steady_clock::time_point from,
                       std::chrono::steady_clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

// SNI and certificate name checks for one TLS connection. An IP literal gets no SNI (RFC 6066 §3)
// and is checked against the certificate's IP SANs instead.
bool prepare_tls(PooledConnection::TlsStream& stream, const std::string& host) {
  SSL* ssl = stream.native_handle();
  boost::system::error_code ec;
  asio::ip::make_address(host, ec);
  if (ec) {
    // SSL_set_tlsext_host_name() is a macro with a C cast; this is what it expands to.
    if (SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                 const_cast<char*>(host.c_str())) != 1) {
      return false;
    }
    return SSL_set1_host(ssl, host.c_str()) == 1;
  }
  return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host.c_str()) == 1;
}

}  // namespace

std::shared_ptr<ConnectionPool> ConnectionPool::create(const asio::any_io_executor& executor,
                                                       PoolOptions options,
                                                       TargetMetrics& metrics) {
  return std::shared_ptr<ConnectionPool>(new ConnectionPool(executor, std::move(options), metrics));
}

ConnectionPool::ConnectionPool(const asio::any_io_executor& executor, PoolOptions options,
                               TargetMetrics& metrics)
    : executor_(executor),
      options_(std::move(options)),
      metrics_(metrics),
      resolver_(executor, options_.host, options_.port, metrics, options_.ip_protocol),
      last_idle_timeout_(options_.new_connection_per_probe ? std::chrono::milliseconds(0)
                                                           : options_.settings.idle_timeout) {
  update_gauges();
}

ConnectionPool::~ConnectionPool() { stop(); }

std::vector<ConnectionPool::ConnectionPtr>* ConnectionPool::list_for(ConnectionState state) {
  switch (state) {
    case ConnectionState::kConnecting:
      return &connecting_;
    case ConnectionState::kIdle:
      return &idle_;
    case ConnectionState::kBusy:
      return &busy_;
    case ConnectionState::kNew:
    case ConnectionState::kClosed:
      break;
  }
  return nullptr;
}

int ConnectionPool::open_count() const {
  return static_cast<int>(connecting_.size() + idle_.size() + busy_.size());
}

void ConnectionPool::transition(const ConnectionPtr& c, ConnectionState to, CloseReason reason) {
  const ConnectionState from = c->state;
  if (from == to || from == ConnectionState::kClosed || to == ConnectionState::kNew) return;
  if (auto* list = list_for(from))
    list->erase(std::remove(list->begin(), list->end(), c), list->end());
  ++c->generation;
  boost::system::error_code ignored;
  if (from == ConnectionState::kIdle) {
    // Stops the idle watch and timer; their handlers see the new generation and do nothing.
    c->idle_timer.cancel();
    c->socket().cancel(ignored);
    c->settling = false;
  }
  c->state = to;
  const auto now = Clock::now();
  switch (to) {
    case ConnectionState::kNew:
      break;
    case ConnectionState::kConnecting:
      connecting_.push_back(c);
      break;
    case ConnectionState::kBusy:
      ++c->requests;
      busy_.push_back(c);
      break;
    case ConnectionState::kIdle:
      c->idle_since = now;
      idle_.push_back(c);
      break;
    case ConnectionState::kClosed: {
      close_socket(c, reason);
      // A connection whose handshake never completed was never opened: its failure is the
      // attempt's outcome, not a pool close.
      if (c->established) {
        metrics_.connection_closed(reason);
        PoolView::Closed record;
        record.id = c->id();
        record.reason = reason;
        record.peer = endpoint_text(c->peer);
        record.age_seconds = seconds_between(c->opened_at, now);
        if (from == ConnectionState::kIdle)
          record.idle_seconds = seconds_between(c->idle_since, now);
        record.requests = c->requests;
        record.at = std::chrono::system_clock::now();
        closed_.push_back(std::move(record));
        if (closed_.size() > kClosedHistory) closed_.pop_front();
        spdlog::debug("target {}: closed connection {} to {} ({}, {} requests)", metrics_.target(),
                      c->id(), endpoint_text(c->peer), to_string(reason), c->requests);
      }
      break;
    }
  }
  if (to == ConnectionState::kIdle) {
    std::chrono::steady_clock::duration wait = c->idle_timeout;
    CloseReason why = CloseReason::kIdleTimeout;
    if (options_.settings.max_lifetime.count() > 0) {
      const auto left = c->opened_at + options_.settings.max_lifetime - now;
      if (left < wait) {
        wait = left;
        why = CloseReason::kMaxLifetime;
      }
    }
    arm_idle_timer(c, wait, why);
    watch_idle(c);
  }
  update_gauges();
  if (observer_) observer_(c->id(), from, to, reason);
  if (to == ConnectionState::kClosed || to == ConnectionState::kIdle) notify_waiter();
}

namespace {

// Reads and drops whatever arrives until the peer's FIN (or an error, or the linger timer closing
// the socket), then closes.
void read_until_fin(const std::shared_ptr<PooledConnection>& c,
                    const std::shared_ptr<std::array<char, 4096>>& scratch) {
  c->socket().async_read_some(asio::buffer(*scratch),
                              [c, scratch](const boost::system::error_code& ec, std::size_t) {
                                if (!ec) {
                                  read_until_fin(c, scratch);
                                  return;
                                }
                                c->idle_timer.cancel();
                                boost::system::error_code ignored;
                                c->socket().close(ignored);
                              });
}

}  // namespace

void ConnectionPool::close_socket(const ConnectionPtr& c, CloseReason reason) {
  boost::system::error_code ec;
  const bool ours = reason == CloseReason::kIdleTimeout || reason == CloseReason::kMaxLifetime ||
                    reason == CloseReason::kShutdown;
  if (!options_.new_connection_per_probe || !c->established || !ours || !c->socket().is_open()) {
    c->socket().close(ec);
    return;
  }
  // A close() with unread bytes sends an RST instead of a FIN (RFC 2525 §2.17): a talk-first
  // server's banner is read and dropped first, then our FIN goes out. Bytes still in flight would
  // meet the same RST once the socket is gone, so it stays open, reading, until the peer's FIN or
  // kCloseLinger (not at shutdown: nothing runs the handlers then).
  drain_and_inspect(c->socket().native_handle());
  c->socket().shutdown(tcp::socket::shutdown_send, ec);
  if (ec || reason == CloseReason::kShutdown) {
    c->socket().close(ec);
    return;
  }
  c->idle_timer.expires_after(kCloseLinger);
  c->idle_timer.async_wait([c](const boost::system::error_code& timer_ec) {
    if (timer_ec) return;
    boost::system::error_code ignored;
    c->socket().close(ignored);
  });
  read_until_fin(c, std::make_shared<std::array<char, 4096>>());
}

void ConnectionPool::record_tcp_info(PooledConnection& connection) {
  if (!connection.socket().is_open()) return;
  tcp_info info{};
  socklen_t length = sizeof info;
  if (::getsockopt(connection.socket().native_handle(), IPPROTO_TCP, TCP_INFO, &info, &length) !=
      0) {
    return;
  }
  const std::uint32_t total = info.tcpi_total_retrans;
  const std::uint32_t added =
      total >= connection.retransmits_counted ? total - connection.retransmits_counted : 0;
  connection.retransmits_counted = total;
  std::optional<double> rtt;
  if (info.tcpi_rtt > 0) rtt = static_cast<double>(info.tcpi_rtt) / 1e6;  // microseconds
  metrics_.tcp_info(rtt, added);
}

void ConnectionPool::update_gauges() {
  metrics_.pool_connections(static_cast<int>(connecting_.size() + busy_.size()),
                            static_cast<int>(idle_.size()));
}

void ConnectionPool::warn_once(unsigned bit, const std::string& message) {
  if ((warned_ & bit) != 0) return;
  warned_ |= bit;
  spdlog::warn("target {}: {}", metrics_.target(), message);
}

bool ConnectionPool::lifetime_expired(const PooledConnection& c, Clock::time_point now) const {
  const auto lifetime = options_.settings.max_lifetime;
  return lifetime.count() > 0 && now - c.opened_at >= lifetime;
}

void ConnectionPool::close_idle(const ConnectionPtr& c, SocketHealth health,
                                Clock::time_point seen_at) {
  switch (health) {
    case SocketHealth::kPeerClosed:
    case SocketHealth::kReset: {
      const double idle = seconds_between(c->idle_since, seen_at);
      metrics_.peer_idle_close(idle);
      if (idle < std::chrono::duration<double>(c->idle_timeout).count()) {
        warn_once(kWarnPeerClosed,
                  fmt::format("the server closed an idle pooled connection after {:.3f} s, sooner "
                              "than the pool's idle timeout of {} ms: requests on such connections "
                              "would meet a reset (lower pool.idle_timeout below the server's "
                              "keep-alive)",
                              idle, c->idle_timeout.count()));
      }
      transition(c, ConnectionState::kClosed,
                 health == SocketHealth::kReset ? CloseReason::kReset : CloseReason::kPeerClosed);
      return;
    }
    case SocketHealth::kUnsolicitedData:
      warn_once(kWarnUnsolicited,
                "an idle pooled connection received bytes nobody asked for; closed it");
      transition(c, ConnectionState::kClosed, CloseReason::kError);
      return;
    case SocketHealth::kError:
      transition(c, ConnectionState::kClosed, CloseReason::kError);
      return;
    case SocketHealth::kOpen:
      return;
  }
}

void ConnectionPool::watch_idle(const ConnectionPtr& c) {
  // Waiting for readability, not reading: the bytes (a TLS record, a late response) stay in the
  // kernel, so inspect_socket() can tell a FIN from an RST from data.
  c->socket().async_wait(
      tcp::socket::wait_read, [weak = weak_from_this(), c,
                               generation = c->generation](const boost::system::error_code& ec) {
        const auto self = weak.lock();
        if (!self || c->generation != generation || c->state != ConnectionState::kIdle) return;
        if (ec) {
          if (ec != asio::error::operation_aborted) {
            self->transition(c, ConnectionState::kClosed, CloseReason::kError);
          }
          return;
        }
        const auto now = Clock::now();
        const SocketHealth health = self->health_of(*c);
        switch (health) {
          case SocketHealth::kOpen:
            self->watch_idle(c);  // woken without cause; keep watching
            return;
          case SocketHealth::kUnsolicitedData:
            if (!c->settling) {
              c->settling = true;
              self->arm_idle_timer(c, kSettleTime, CloseReason::kError);
            }
            return;
          case SocketHealth::kPeerClosed:
          case SocketHealth::kReset:
          case SocketHealth::kError:
            self->close_idle(c, health, now);
            return;
        }
      });
}

void ConnectionPool::arm_idle_timer(const ConnectionPtr& c,
                                    std::chrono::steady_clock::duration wait, CloseReason reason) {
  c->idle_timer.expires_after(wait);
  c->idle_timer.async_wait([weak = weak_from_this(), c, generation = c->generation,
                            reason](const boost::system::error_code& ec) {
    const auto self = weak.lock();
    if (!self || ec || c->generation != generation || c->state != ConnectionState::kIdle) return;
    if (c->settling) {
      const SocketHealth health = inspect_socket(c->socket().native_handle());
      const auto seen_at = Clock::now() - kSettleTime;
      self->close_idle(c, health == SocketHealth::kOpen ? SocketHealth::kError : health, seen_at);
      return;
    }
    if (reason == CloseReason::kMaxLifetime) self->resolver_.invalidate();
    self->transition(c, ConnectionState::kClosed, reason);
  });
}

SocketHealth ConnectionPool::health_of(PooledConnection& c) const {
  const int fd = c.socket().native_handle();
  const SocketHealth health = inspect_socket(fd);
  if (health == SocketHealth::kUnsolicitedData && options_.talks_first_ok) {
    return drain_and_inspect(fd);
  }
  return health;
}

ConnectionPool::ConnectionPtr ConnectionPool::take_idle() {
  while (!idle_.empty()) {
    ConnectionPtr c = idle_.back();
    const auto now = Clock::now();
    // The watch may not have run yet for a FIN that already arrived: ask the kernel now.
    const SocketHealth health = c->settling ? SocketHealth::kUnsolicitedData : health_of(*c);
    if (health != SocketHealth::kOpen) {
      close_idle(c, health, now);
      continue;
    }
    if (lifetime_expired(*c, now)) {
      resolver_.invalidate();
      transition(c, ConnectionState::kClosed, CloseReason::kMaxLifetime);
      continue;
    }
    transition(c, ConnectionState::kBusy);
    return c;
  }
  return nullptr;
}

asio::awaitable<bool> ConnectionPool::wait_for_slot(Clock::time_point deadline) {
  auto timer = std::make_shared<asio::steady_timer>(executor_, deadline);
  waiters_.push_back(timer);
  boost::system::error_code ec;
  co_await timer->async_wait(asio::redirect_error(asio::use_awaitable, ec));
  // Cancelled = woken by notify_waiter(); expired = the deadline passed first.
  co_return ec == asio::error::operation_aborted;
}

void ConnectionPool::notify_waiter() {
  while (!waiters_.empty()) {
    const auto timer = waiters_.front().lock();
    waiters_.pop_front();
    if (timer) {
      timer->cancel();
      return;
    }
  }
}

void ConnectionPool::drain_old_addresses() {
  const auto& addresses = resolver_.addresses();
  const auto listed = [&](const tcp::endpoint& e) {
    return std::find(addresses.begin(), addresses.end(), e) != addresses.end();
  };
  int drained = 0;
  for (const auto& c : std::vector<ConnectionPtr>(idle_)) {
    if (!listed(c->peer)) {
      transition(c, ConnectionState::kClosed, CloseReason::kMaxLifetime);
      ++drained;
    }
  }
  for (const auto& c : busy_) {
    if (!listed(c->peer)) {
      c->retire = true;
      ++drained;
    }
  }
  std::string now_at;
  for (const auto& e : addresses) now_at += (now_at.empty() ? "" : ", ") + endpoint_text(e);
  warn_once(kWarnAddressChange,
            fmt::format("{} now resolves to {}; draining {} connection(s) to old addresses",
                        resolver_.host(), now_at, drained));
}

asio::awaitable<Lease> ConnectionPool::acquire(AttemptTimings& timings, bool require_new,
                                               std::optional<Clock::time_point> not_after) {
  const auto self = shared_from_this();  // the pool outlives this coroutine
  Lease lease;
  auto deadline_at = Clock::now() + options_.settings.connect_timeout;
  if (not_after && *not_after < deadline_at) deadline_at = *not_after;
  if (stopped_) {
    lease.error = ProbeError::kPoolStopped;
    co_return lease;
  }
  if (!require_new) {
    if (auto c = take_idle()) {
      lease.connection = std::move(c);
      lease.reused = true;
      metrics_.request(true);
      co_return lease;
    }
  }
  while (open_count() >= std::max(1, options_.settings.max_connections)) {
    if (!idle_.empty() && !require_new) {
      // Woken by a busy -> idle transition: that connection is ours.
      if (auto c = take_idle()) {
        lease.connection = std::move(c);
        lease.reused = true;
        metrics_.request(true);
        co_return lease;
      }
      continue;  // every idle one was unhealthy and closed: a slot is free now
    }
    if (!idle_.empty()) {
      // A resend (require_new) must not reuse: evict the least recent idle connection.
      transition(idle_.front(), ConnectionState::kClosed, CloseReason::kIdleTimeout);
      continue;
    }
    warn_once(kWarnWaiting, fmt::format("all {} pooled connections are busy; waiting for one",
                                        options_.settings.max_connections));
    const bool woken = co_await wait_for_slot(deadline_at);
    if (stopped_) {
      lease.error = ProbeError::kPoolStopped;
      co_return lease;
    }
    if (!woken) {
      lease.error = ProbeError::kDeadlineExceeded;
      lease.deadline_expired = true;
      co_return lease;
    }
  }

  auto c = std::make_shared<PooledConnection>(executor_, ++next_id_, options_.tls);
  transition(c, ConnectionState::kConnecting);
  // connect_timeout bounds resolve + connect + TLS together. Closing the socket (not cancelling)
  // also stops async_connect from trying the next address.
  Deadline deadline(executor_, deadline_at - Clock::now(), [this, c] {
    resolver_.cancel();
    record_tcp_info(*c);  // the SYNs it retransmitted in vain
    boost::system::error_code ignored;
    c->socket().close(ignored);
  });
  const auto fail = [&](boost::system::error_code ec, Phase phase) {
    lease.error = deadline.expired() ? make_error_code(ProbeError::kDeadlineExceeded) : ec;
    lease.phase = phase;
    lease.deadline_expired = deadline.expired();
    if (stopped_) lease.error = ProbeError::kPoolStopped;
    record_tcp_info(*c);
    transition(c, ConnectionState::kClosed, CloseReason::kError);
  };

  auto started = Clock::now();
  const auto resolved = co_await resolver_.resolve();
  if (resolved.resolved) timings.resolve = Clock::now() - started;
  if (resolved.error || deadline.expired() || stopped_) {
    fail(resolved.error, Phase::kResolve);
    co_return lease;
  }
  if (resolved.changed) drain_old_addresses();

  boost::system::error_code ec;
  started = Clock::now();
  // Opened here rather than inside async_connect, which swallows the open's error and reports
  // "operation canceled": EMFILE/ENFILE must surface as fd_exhausted.
  if (!resolver_.addresses().empty()) {
    c->socket().open(resolver_.addresses().front().protocol(), ec);
    if (ec) {
      timings.connect = Clock::now() - started;
      fail(ec, Phase::kConnect);
      co_return lease;
    }
  }
  const tcp::endpoint peer = co_await asio::async_connect(
      c->socket(), resolver_.addresses(),
      [&lease](const boost::system::error_code&, const tcp::endpoint& next) {
        lease.dialled = next;
        return true;
      },
      asio::redirect_error(asio::use_awaitable, ec));
  timings.connect = Clock::now() - started;
  if (ec || deadline.expired() || stopped_) {
    fail(ec, Phase::kConnect);
    co_return lease;
  }
  c->established = true;
  c->peer = peer;
  c->opened_at = Clock::now();
  metrics_.connection_opened();
  c->socket().set_option(tcp::no_delay(true), ec);

  if (auto* tls = c->tls()) {
    started = Clock::now();
    if (!prepare_tls(*tls,
                     options_.tls_server_name.empty() ? options_.host : options_.tls_server_name)) {
      timings.tls = Clock::now() - started;
      fail(boost::system::error_code(static_cast<int>(ERR_get_error()),
                                     asio::error::get_ssl_category()),
           Phase::kTls);
      co_return lease;
    }
    co_await tls->async_handshake(asio::ssl::stream_base::client,
                                  asio::redirect_error(asio::use_awaitable, ec));
    timings.tls = Clock::now() - started;
    if (ec || deadline.expired() || stopped_) {
      fail(ec, Phase::kTls);
      co_return lease;
    }
  }
  transition(c, ConnectionState::kBusy);
  metrics_.request(false);
  lease.connection = std::move(c);
  co_return lease;
}

void ConnectionPool::release(const ConnectionPtr& c, const Release& how) {
  if (c->state != ConnectionState::kBusy) return;
  if (stopped_) {
    transition(c, ConnectionState::kClosed, CloseReason::kShutdown);
    return;
  }
  if (!how.reusable) {
    transition(c, ConnectionState::kClosed, how.reason);
    return;
  }
  if (c->buffer().size() != 0) {
    // Bytes after the response: the next response would be misread. Not reusable.
    warn_once(kWarnUnsolicited, "bytes followed a complete response; closed the connection");
    transition(c, ConnectionState::kClosed, CloseReason::kError);
    return;
  }
  const auto now = Clock::now();
  if (c->retire || lifetime_expired(*c, now)) {
    if (!c->retire) resolver_.invalidate();
    transition(c, ConnectionState::kClosed, CloseReason::kMaxLifetime);
    return;
  }
  if (options_.new_connection_per_probe) {
    transition(c, ConnectionState::kClosed, CloseReason::kIdleTimeout);  // idle timeout zero
    return;
  }
  c->server_keep_alive = how.server_keep_alive;
  c->idle_timeout = cap_idle_timeout(options_.settings.idle_timeout, how.server_keep_alive);
  last_idle_timeout_ = c->idle_timeout;
  last_server_keep_alive_ = how.server_keep_alive;
  if (c->idle_timeout.count() <= 0) {
    transition(c, ConnectionState::kClosed, CloseReason::kIdleTimeout);
    return;
  }
  transition(c, ConnectionState::kIdle);
}

void ConnectionPool::stop() {
  if (stopped_) return;
  stopped_ = true;
  resolver_.cancel();
  for (auto* list : {&connecting_, &busy_, &idle_}) {
    for (const auto& c : std::vector<ConnectionPtr>(*list)) {
      transition(c, ConnectionState::kClosed, CloseReason::kShutdown);
    }
  }
  while (!waiters_.empty()) notify_waiter();
}

PoolView ConnectionPool::view() const {
  PoolView v;
  v.connecting = static_cast<int>(connecting_.size());
  v.idle = static_cast<int>(idle_.size());
  v.busy = static_cast<int>(busy_.size());
  v.idle_timeout = last_idle_timeout_;
  v.server_keep_alive = last_server_keep_alive_;
  const auto now = Clock::now();
  for (const auto* list : {&connecting_, &busy_, &idle_}) {
    for (const auto& c : *list) {
      PoolView::Open open;
      open.id = c->id();
      open.state = c->state;
      open.peer = c->established ? endpoint_text(c->peer) : "";
      open.age_seconds = c->established ? seconds_between(c->opened_at, now) : 0.0;
      if (c->state == ConnectionState::kIdle)
        open.idle_seconds = seconds_between(c->idle_since, now);
      open.requests = c->requests;
      v.open.push_back(std::move(open));
    }
  }
  v.recent_closes.assign(closed_.begin(), closed_.end());
  return v;
}

}  // namespace connwatch::active
