#include "exporters/http_server.h"

#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <chrono>
#include <optional>
#include <system_error>

#include "connwatch/version.h"
#include "exporters/basic_auth.h"
#include "exporters/connection_table.h"
#include "exporters/web_config_watcher.h"

namespace connwatch::exporters {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

namespace {

// A scrape is a small GET; anything larger or slower than this is not a Prometheus server.
constexpr std::uint32_t kHeaderLimit = 8 * 1024;
constexpr std::uint64_t kBodyLimit = std::uint64_t{64} * 1024;
// Whole header, counted from accept (TLS handshake included) or from a later request's first
// byte, not reset by bytes that trickle in: Go's ReadHeaderTimeout, nginx's client_header_timeout.
constexpr auto kHeaderTimeout = 10s;
constexpr auto kBodyTimeout = 10s;
constexpr auto kIdleTimeout = 60s;  // above Prometheus' default scrape interval, so scrapes reuse
constexpr auto kWriteTimeout = 30s;
constexpr auto kErrorWriteTimeout = 2s;  // a 400/413/431 before closing
constexpr std::size_t kMaxConnections = 256;
constexpr std::size_t kFirstReadSize = 1024;

tcp::endpoint resolve_listen(asio::io_context& io, const config::ListenAddress& address) {
  if (address.host.empty()) return {tcp::v6(), address.port};
  boost::system::error_code ec;
  const auto ip = asio::ip::make_address(address.host, ec);
  if (!ec) return {ip, address.port};
  tcp::resolver resolver(io);
  const auto results =
      resolver.resolve(address.host, std::to_string(address.port), tcp::resolver::passive, ec);
  if (ec || results.empty()) {
    throw std::system_error(ec ? ec : std::make_error_code(std::errc::address_not_available),
                            "cannot resolve listen address " + address.to_string());
  }
  return results.begin()->endpoint();
}

}  // namespace

Response text_response(const Request& request, http::status status, std::string body,
                       const std::string& content_type) {
  Response response{status, request.version()};
  response.set(http::field::server, std::string("connwatch/") + kVersion);
  response.set(http::field::content_type, content_type);
  response.keep_alive(request.keep_alive());
  response.body() = std::move(body);
  response.prepare_payload();
  return response;
}

namespace {

// The response to a request that cannot be served (400, 413, 431), closing the connection.
Response error_response(http::status status, std::string body) {
  Response response{status, 11};
  response.set(http::field::server, std::string("connwatch/") + kVersion);
  response.set(http::field::content_type, "text/plain; charset=utf-8");
  response.set(http::field::connection, "close");
  response.keep_alive(false);
  response.body() = std::move(body);
  response.prepare_payload();
  return response;
}

// What a failed read answers, if anything: malformed requests and exceeded limits get a status,
// a closed, reset or timed-out connection gets nothing.
std::optional<Response> answer_for(const boost::system::error_code& ec) {
  if (ec == http::error::header_limit) {
    return error_response(http::status::request_header_fields_too_large,
                          "431 Request Header Fields Too Large\n");
  }
  if (ec == http::error::body_limit) {
    return error_response(http::status::payload_too_large, "413 Payload Too Large\n");
  }
  if (ec == http::error::end_of_stream || ec == http::error::partial_message ||
      ec == http::error::need_more || ec == http::error::need_buffer) {
    return std::nullopt;
  }
  if (ec.category() == http::make_error_code(http::error::bad_method).category()) {
    return error_response(http::status::bad_request, "400 Bad Request\n");
  }
  return std::nullopt;
}

}  // namespace

struct HttpServer::State : std::enable_shared_from_this<HttpServer::State> {
  State(asio::io_context& context, const config::WebSettings& web)
      : io(context), acceptor(context), web_config(web), connections(kMaxConnections) {}

  asio::io_context& io;
  tcp::acceptor acceptor;
  WebConfigWatcher web_config;
  std::map<std::string, Handler> routes;
  std::map<std::string, AsyncHandler> async_routes;
  ConnectionTable connections;
  bool stopped = false;

  asio::awaitable<Response> dispatch(const Request& request,
                                     std::shared_ptr<const ActiveWebConfig> web) {
    Response response = co_await route_request(request, *web);
    for (const auto& [name, value] : web->config.headers) response.set(name, value);
    co_return response;
  }

  asio::awaitable<Response> route_request(const Request& request, const ActiveWebConfig& web) {
    if (!web.rate_limit->allow()) {
      co_return text_response(request, http::status::too_many_requests, "Too Many Requests\n");
    }
    if (!web.auth->allows(request[http::field::authorization])) {
      Response response = text_response(request, http::status::unauthorized, "Unauthorized\n");
      response.set(http::field::www_authenticate, "Basic realm=\"connwatch\"");
      co_return response;
    }
    const std::string_view target = request.target();
    const std::string path(target.substr(0, target.find('?')));
    if (const auto it = routes.find(path); it != routes.end()) co_return it->second(request);
    if (const auto it = async_routes.find(path); it != async_routes.end()) {
      const AsyncHandler handler = it->second;  // a route() meanwhile must not pull it away
      co_return co_await handler(request);
    }
    co_return text_response(request, http::status::not_found, "404 page not found\n");
  }

  asio::awaitable<void> accept_loop() {
    auto self = shared_from_this();
    while (!stopped) {
      boost::system::error_code ec;
      tcp::socket socket =
          co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec == asio::error::operation_aborted || stopped) co_return;
      if (ec) {
        // EMFILE and friends: log, back off briefly, keep serving the connections we have.
        spdlog::warn("http: accept failed: {}", ec.message());
        asio::steady_timer pause(io, 100ms);
        co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        continue;
      }
      // The configuration in force now (re-read if its files changed) serves this connection.
      std::shared_ptr<const ActiveWebConfig> web = web_config.current();
      if (web->tls) {
        auto stream =
            std::make_shared<beast::ssl_stream<beast::tcp_stream>>(std::move(socket), *web->tls);
        // The TCP layer, owned by the TLS stream: what eviction and stop() close.
        std::shared_ptr<beast::tcp_stream> tcp_layer(stream, &stream->next_layer());
        const auto id = admit(ConnPhase::kHandshake, tcp_layer);
        if (!id) continue;
        asio::co_spawn(io, tls_session(stream, *id, web), asio::detached);
      } else {
        auto stream = std::make_shared<beast::tcp_stream>(std::move(socket));
        const auto id = admit(ConnPhase::kReadingHeader, stream);
        if (!id) continue;
        asio::co_spawn(io, plain_session(stream, *id), asio::detached);
      }
    }
  }

  // A slot in the connection table, evicting the longest-waiting connection at the limit; the
  // header deadline starts now. nullopt (the new connection closed): every slot is writing.
  std::optional<ConnectionTable::Id> admit(ConnPhase phase,
                                           const std::shared_ptr<beast::tcp_stream>& tcp_layer) {
    const std::uint64_t evicted_before = connections.evicted();
    const auto id = connections.admit(phase, [tcp_layer] {
      boost::system::error_code ignored;
      tcp_layer->socket().close(ignored);
    });
    if (!id) {
      spdlog::debug("http: {} connections open, all writing: new connection refused",
                    connections.size());
      boost::system::error_code ignored;
      tcp_layer->socket().close(ignored);
      return std::nullopt;
    }
    if (connections.evicted() != evicted_before) {
      spdlog::debug("http: {} connections open: the longest waiting gave way ({} so far)",
                    connections.size(), connections.evicted());
    }
    tcp_layer->expires_after(kHeaderTimeout);
    return id;
  }

  template <typename Stream>
  asio::awaitable<void> write_error(Stream& stream, beast::tcp_stream& tcp_layer,
                                    const boost::system::error_code& read_error) {
    std::optional<Response> answer = answer_for(read_error);
    if (!answer) co_return;
    boost::system::error_code ec;
    tcp_layer.expires_after(kErrorWriteTimeout);
    co_await http::async_write(stream, *answer, asio::redirect_error(asio::use_awaitable, ec));
  }

  // Requests and responses on one connection until either side is done. The first request's
  // header deadline was set at accept.
  template <typename Stream>
  asio::awaitable<void> serve(Stream& stream, beast::tcp_stream& tcp_layer,
                              ConnectionTable::Id id) {
    beast::flat_buffer buffer;
    boost::system::error_code ec;
    for (bool first = true;; first = false) {
      if (!first) {
        // Idle until the next request's first byte, then the whole header within the deadline.
        if (buffer.size() == 0) {
          tcp_layer.expires_after(kIdleTimeout);
          const std::size_t n = co_await stream.async_read_some(
              buffer.prepare(kFirstReadSize), asio::redirect_error(asio::use_awaitable, ec));
          if (ec) break;
          buffer.commit(n);
        }
        connections.on(id, ConnEvent::kFirstByte);
        tcp_layer.expires_after(kHeaderTimeout);
      }
      http::request_parser<http::string_body> parser;
      parser.header_limit(kHeaderLimit);
      parser.body_limit(kBodyLimit);
      co_await http::async_read_header(stream, buffer, parser,
                                       asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        co_await write_error(stream, tcp_layer, ec);
        break;
      }
      connections.on(id, ConnEvent::kHeaderRead);
      if (!parser.is_done()) {
        tcp_layer.expires_after(kBodyTimeout);
        co_await http::async_read(stream, buffer, parser,
                                  asio::redirect_error(asio::use_awaitable, ec));
        if (ec) {
          co_await write_error(stream, tcp_layer, ec);
          break;
        }
      }
      connections.on(id, ConnEvent::kRequestRead);
      Request request = parser.release();
      // Users, headers and the rate limit as the file says now; the TLS context stays the one
      // the connection was accepted with.
      Response response = co_await dispatch(request, web_config.current());
      tcp_layer.expires_after(kWriteTimeout);
      co_await http::async_write(stream, response, asio::redirect_error(asio::use_awaitable, ec));
      if (ec || response.need_eof()) break;
      connections.on(id, ConnEvent::kResponseWritten);
    }
  }

  asio::awaitable<void> plain_session(std::shared_ptr<beast::tcp_stream> stream,
                                      ConnectionTable::Id id) {
    auto self = shared_from_this();
    co_await serve(*stream, *stream, id);
    boost::system::error_code ec;
    stream->socket().shutdown(tcp::socket::shutdown_send, ec);
    stream->close();
    connections.remove(id);
  }

  asio::awaitable<void> tls_session(std::shared_ptr<beast::ssl_stream<beast::tcp_stream>> stream,
                                    ConnectionTable::Id id,
                                    std::shared_ptr<const ActiveWebConfig> web) {
    auto self = shared_from_this();
    boost::system::error_code ec;
    // Plain HTTP to a TLS port fails here: the connection is closed without an answer.
    co_await stream->async_handshake(asio::ssl::stream_base::server,
                                     asio::redirect_error(asio::use_awaitable, ec));
    if (!ec) {
      connections.on(id, ConnEvent::kHandshakeDone);
      co_await serve(*stream, stream->next_layer(), id);
      stream->next_layer().expires_after(kErrorWriteTimeout);
      co_await stream->async_shutdown(asio::redirect_error(asio::use_awaitable, ec));
    } else {
      spdlog::debug("http: TLS handshake failed: {}", ec.message());
    }
    stream->next_layer().close();
    connections.remove(id);
    stream.reset();  // the context (and its verify callback) outlives every stream made with it
    web.reset();
  }
};

HttpServer::HttpServer(asio::io_context& io, const config::ListenAddress& address,
                       const config::WebSettings& web)
    : state_(std::make_shared<State>(io, web)) {
  const tcp::endpoint endpoint = resolve_listen(io, address);
  auto& acceptor = state_->acceptor;
  boost::system::error_code ec;
  acceptor.open(endpoint.protocol(), ec);
  if (ec && address.host.empty()) {
    // No IPv6 on this host: every IPv4 address instead.
    acceptor.open(tcp::v4(), ec);
    if (!ec) {
      acceptor.set_option(tcp::acceptor::reuse_address(true));
      acceptor.bind({tcp::v4(), address.port}, ec);
    }
  } else if (!ec) {
    acceptor.set_option(tcp::acceptor::reuse_address(true));
    if (endpoint.address().is_v6() && address.host.empty()) {
      acceptor.set_option(asio::ip::v6_only(false));  // ":9873" serves IPv4 too
    }
    acceptor.bind(endpoint, ec);
  }
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw std::system_error(ec, "cannot listen on " + address.to_string());
}

HttpServer::~HttpServer() { stop(); }

void HttpServer::route(std::string path, Handler handler) {
  state_->routes[std::move(path)] = std::move(handler);
}

void HttpServer::route(std::string path, AsyncHandler handler) {
  state_->async_routes[std::move(path)] = std::move(handler);
}

void HttpServer::start() { asio::co_spawn(state_->io, state_->accept_loop(), asio::detached); }

void HttpServer::stop() {
  if (state_->stopped) return;
  state_->stopped = true;
  boost::system::error_code ec;
  state_->acceptor.close(ec);
  state_->connections.close_all();
}

std::uint16_t HttpServer::port() const {
  boost::system::error_code ec;
  return state_->acceptor.local_endpoint(ec).port();
}

}  // namespace connwatch::exporters
