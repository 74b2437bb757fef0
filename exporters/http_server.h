// The agent's own HTTP endpoint (/metrics, /, /-/healthy, /-/reload): Boost.Beast HTTP/1.1 on the
// agent's io_context. prometheus-cpp's Exposer serves only metric paths, so the routes live here
// and /metrics is one handler among them (see metrics_handler.h).
#pragma once

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

// A plain-text response with the status and body given, for handlers and errors alike.
Response text_response(const Request& request, boost::beast::http::status status, std::string body,
                       const std::string& content_type = "text/plain; charset=utf-8");

class HttpServer {
 public:
  // Binds and listens. Throws std::system_error naming the address when it cannot (port in use,
  // address not local), std::runtime_error when [web]'s certificate or key does not load: startup
  // errors, reported once, before anything runs. `web` turns on HTTPS (tls_cert + tls_key) and
  // basic auth (basic_auth_users: user -> crypt(3) hash, bcrypt "$2b$" or sha256-crypt "$5$"),
  // as the Prometheus exporter-toolkit's web config does; both guard every path.
  HttpServer(boost::asio::io_context& io, const config::ListenAddress& address,
             const config::WebSettings& web = {});
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Routes an exact path to a handler; a request to any other path gets 404.
  void route(std::string path, Handler handler);

  void start();
  // Stops accepting and closes every open connection; pending handlers finish on the loop.
  void stop();

  std::uint16_t port() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace connwatch::exporters
