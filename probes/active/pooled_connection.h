// One connection in a ConnectionPool: the socket (with a TLS stream over it for https), where it
// is in the pool's state machine (POOL.md), and the times the pool's decisions are based on.
// Owned by shared_ptr: the pool's lists and any pending handler hold it.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "probes/active/connection_state.h"

namespace connwatch::active {

class PooledConnection {
 public:
  using Clock = std::chrono::steady_clock;
  using TlsStream = boost::asio::ssl::stream<boost::asio::ip::tcp::socket&>;

  // `tls` null: plain TCP.
  PooledConnection(const boost::asio::any_io_executor& executor, std::uint64_t id,
                   boost::asio::ssl::context* tls);
  PooledConnection(const PooledConnection&) = delete;
  PooledConnection& operator=(const PooledConnection&) = delete;

  std::uint64_t id() const { return id_; }
  boost::asio::ip::tcp::socket& socket() { return socket_; }
  TlsStream* tls() { return tls_.get(); }
  boost::beast::flat_buffer& buffer() { return buffer_; }

  ConnectionState state = ConnectionState::kNew;
  // Bumped on every transition: a handler started in one state ignores completions in another.
  std::uint64_t generation = 0;
  bool established = false;  // the TCP handshake completed (counted in opened_total)
  boost::asio::ip::tcp::endpoint peer;
  Clock::time_point opened_at{};
  Clock::time_point idle_since{};
  std::uint64_t requests = 0;
  // Retire when next idle: reached max_lifetime mid-request, or its address left the DNS answer.
  bool retire = false;
  // An idle connection saw unread bytes; the pool waits briefly for the FIN that usually follows.
  bool settling = false;
  // The idle timeout in force: the pool's, capped by the server's Keep-Alive: timeout (N - 1 s).
  std::chrono::milliseconds idle_timeout{0};
  std::optional<std::chrono::seconds> server_keep_alive;
  boost::asio::steady_timer idle_timer;
  // TCP_INFO's tcpi_total_retrans already added to the target's retransmits counter.
  std::uint32_t retransmits_counted = 0;

 private:
  std::uint64_t id_;
  boost::asio::ip::tcp::socket socket_;
  std::unique_ptr<TlsStream> tls_;  // after socket_: it refers to it
  boost::beast::flat_buffer buffer_;
};

}  // namespace connwatch::active
