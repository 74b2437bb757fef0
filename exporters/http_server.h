// The agent's own HTTP endpoint (/metrics, /, /-/healthy, /-/reload): Boost.Beast HTTP/1.1 on the
// agent's io_context. prometheus-cpp's Exposer serves only metric paths, so the routes live here
// and /metrics is one handler among them (see metrics_handler.h).
#pragma once

#include <utility>  // before awaitable.hpp: Boost 1.74's uses std::exchange without including it
// clang-format off
#include <boost/asio/awaitable.hpp>
// clang-format on
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "config/address.h"
#include "config/config.h"

namespace connwatch::exporters {

using Request = boost::beast::http::request<boost::beast::http::string_body>;
using Response = boost::beast::http::response<boost::beast::http::string_body>;
using Handler = std::function<Response(const Request&)>;
// A handler that waits for something (a probe) before it answers; it runs on the io_context like
// every other, other connections are served meanwhile.
using AsyncHandler = std::function<boost::asio::awaitable<Response>(const Request&)>;

// A plain-text response with the status and body given, for handlers and errors alike.
Response text_response(const Request& request, boost::beast::http::status status, std::string body,
                       const std::string& content_type = "text/plain; charset=utf-8");

class HttpServer {
 public:
  // Binds and listens. Throws std::system_error naming the address when it cannot (port in use,
  // address not local), std::runtime_error (WebConfigError) when the web configuration does not
  // load: startup errors, reported once, before anything runs. `web` is [web]: an
  // exporter-toolkit web config file (web_config.h: TLS, client certificates, basic auth,
  // headers, rate limit), or the inline tls_cert/tls_key/basic_auth_users keys; either guards
  // every path and is re-read when its files change (web_config_watcher.h).
  //
  // Slow clients cannot lock scrapes out (issue 21): a request's header must arrive whole within
  // kHeaderTimeout (10 s; for the first request counted from accept, TLS handshake included; for
  // later ones from their first byte), its body within 10 s more; an idle keep-alive connection
  // lasts 60 s. At most 256 connections are open; at the limit the one that has waited longest
  // without a request in progress gives way to the new one (connection_table.h). A header over
  // 8 KiB is answered 431, a body over 64 KiB 413, a malformed request 400.
  HttpServer(boost::asio::io_context& io, const config::ListenAddress& address,
             const config::WebSettings& web = {});
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Routes an exact path to a handler; a request to any other path gets 404.
  void route(std::string path, Handler handler);
  void route(std::string path, AsyncHandler handler);

  void start();
  // Stops accepting and closes every open connection; pending handlers finish on the loop.
  void stop();

  std::uint16_t port() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace connwatch::exporters
