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
#include <set>
#include <system_error>

#include "connwatch/version.h"
#include "exporters/basic_auth.h"

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
constexpr auto kIdleTimeout = 60s;  // above Prometheus' default scrape interval, so scrapes reuse
constexpr std::size_t kMaxConnections = 256;
constexpr auto kHandshakeTimeout = 10s;

// TLS 1.2 and up, the server's cipher preference, no renegotiation: what exporter-toolkit does
// by default with Go's crypto/tls.
std::unique_ptr<asio::ssl::context> make_tls(const config::WebSettings& web) {
  if (web.tls_cert.empty()) return nullptr;
  auto tls = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
  tls->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                   asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                   asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use);
  boost::system::error_code ec;
  tls->use_certificate_chain_file(web.tls_cert, ec);
  if (ec) throw std::runtime_error("web.tls_cert " + web.tls_cert + ": " + ec.message());
  tls->use_private_key_file(web.tls_key, asio::ssl::context::pem, ec);
  if (ec) throw std::runtime_error("web.tls_key " + web.tls_key + ": " + ec.message());
  return tls;
}

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

struct HttpServer::State : std::enable_shared_from_this<HttpServer::State> {
  State(asio::io_context& context, const config::WebSettings& web)
      : io(context), acceptor(context), tls(make_tls(web)), auth(web.basic_auth_users) {}

  asio::io_context& io;
  tcp::acceptor acceptor;
  std::unique_ptr<asio::ssl::context> tls;  // null: plain HTTP
  BasicAuth auth;
  std::map<std::string, Handler> routes;
  // Every open connection's TCP layer, so stop() can close them.
  std::set<std::shared_ptr<beast::tcp_stream>> sessions;
  bool stopped = false;

  Response dispatch(const Request& request) {
    if (!auth.allows(request[http::field::authorization])) {
      Response response = text_response(request, http::status::unauthorized, "Unauthorized\n");
      response.set(http::field::www_authenticate, "Basic realm=\"connwatch\"");
      return response;
    }
    const std::string_view target = request.target();
    const std::string path(target.substr(0, target.find('?')));
    const auto it = routes.find(path);
    if (it == routes.end()) {
      return text_response(request, http::status::not_found, "404 page not found\n");
    }
    return it->second(request);
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
      if (sessions.size() >= kMaxConnections) {
        socket.close(ec);
        continue;
      }
      if (tls) {
        auto stream =
            std::make_shared<beast::ssl_stream<beast::tcp_stream>>(std::move(socket), *tls);
        // The TCP layer, owned by the TLS stream: what stop() closes.
        sessions.insert(std::shared_ptr<beast::tcp_stream>(stream, &stream->next_layer()));
        asio::co_spawn(io, tls_session(stream), asio::detached);
      } else {
        auto stream = std::make_shared<beast::tcp_stream>(std::move(socket));
        sessions.insert(stream);
        asio::co_spawn(io, plain_session(stream), asio::detached);
      }
    }
  }

  // Requests and responses on one connection until either side is done.
  template <typename Stream>
  asio::awaitable<void> serve(Stream& stream, beast::tcp_stream& tcp_layer) {
    beast::flat_buffer buffer;
    boost::system::error_code ec;
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.header_limit(kHeaderLimit);
      parser.body_limit(kBodyLimit);
      tcp_layer.expires_after(kIdleTimeout);
      co_await http::async_read(stream, buffer, parser,
                                asio::redirect_error(asio::use_awaitable, ec));
      if (ec) break;
      Request request = parser.release();
      Response response = dispatch(request);
      tcp_layer.expires_after(kIdleTimeout);
      co_await http::async_write(stream, response, asio::redirect_error(asio::use_awaitable, ec));
      if (ec || response.need_eof()) break;
    }
  }

  asio::awaitable<void> plain_session(std::shared_ptr<beast::tcp_stream> stream) {
    auto self = shared_from_this();
    co_await serve(*stream, *stream);
    boost::system::error_code ec;
    stream->socket().shutdown(tcp::socket::shutdown_send, ec);
    stream->close();
    sessions.erase(stream);
  }

  asio::awaitable<void> tls_session(std::shared_ptr<beast::ssl_stream<beast::tcp_stream>> stream) {
    auto self = shared_from_this();
    const std::shared_ptr<beast::tcp_stream> key(stream, &stream->next_layer());
    boost::system::error_code ec;
    stream->next_layer().expires_after(kHandshakeTimeout);
    // Plain HTTP to a TLS port fails here: the connection is closed without an answer.
    co_await stream->async_handshake(asio::ssl::stream_base::server,
                                     asio::redirect_error(asio::use_awaitable, ec));
    if (!ec) {
      co_await serve(*stream, stream->next_layer());
      stream->next_layer().expires_after(kHandshakeTimeout);
      co_await stream->async_shutdown(asio::redirect_error(asio::use_awaitable, ec));
    } else {
      spdlog::debug("http: TLS handshake failed: {}", ec.message());
    }
    stream->next_layer().close();
    sessions.erase(key);
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

void HttpServer::start() { asio::co_spawn(state_->io, state_->accept_loop(), asio::detached); }

void HttpServer::stop() {
  if (state_->stopped) return;
  state_->stopped = true;
  boost::system::error_code ec;
  state_->acceptor.close(ec);
  for (const auto& stream : state_->sessions) stream->socket().close(ec);
}

std::uint16_t HttpServer::port() const {
  boost::system::error_code ec;
  return state_->acceptor.local_endpoint(ec).port();
}

}  // namespace connwatch::exporters
