// GET /probe as Prometheus sends it, through ProbeEndpoint's handler against a scripted loopback
// server: the families of a probe that succeeded (HTTP version, IP family, phase durations), the
// 400/405 answers, refused targets that would smuggle bytes into the request line, and the 503
// when [probe] max_concurrent probes are already running.
#include "exporters/probe_endpoint.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <prometheus/registry.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <ctime>
#include <string>

#include "tests/probes/active/io_test_support.h"
#include "tests/probes/active/loopback_server.h"

namespace connwatch::exporters {
namespace {

namespace http = boost::beast::http;
using namespace std::chrono_literals;
using active::testing::LoopbackServer;
using active::testing::run_until;
using active::testing::spawn;

std::string ok_response(int) { return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"; }

config::ProbeModules modules() {
  config::ProbeModules m;
  config::ProbeModule http_2xx;
  http_2xx.name = "http_2xx";
  http_2xx.timeout = 1s;
  m.emplace(http_2xx.name, http_2xx);
  config::ProbeModule tcp = http_2xx;
  tcp.name = "tcp_connect";
  tcp.prober = config::ProberKind::kTcp;
  m.emplace(tcp.name, tcp);
  config::ProbeModule https = http_2xx;
  https.name = "https_self_signed";
  https.tls.insecure_skip_verify = true;
  m.emplace(https.name, https);
  return m;
}

// A self-signed P-256 certificate valid for `days` from now, made in memory.
struct SelfSigned {
  std::string cert_pem;
  std::string key_pem;
  std::time_t not_after = 0;
};

SelfSigned self_signed(long days) {
  SelfSigned out;
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), -60);
  out.not_after = std::time(nullptr) + days * 86400;
  X509_time_adj_ex(X509_getm_notAfter(cert), 0, 0, &out.not_after);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("probe.test"), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  X509_sign(cert, key, EVP_sha256());
  const auto pem = [](auto write) {
    BIO* bio = BIO_new(BIO_s_mem());
    write(bio);
    char* data = nullptr;
    const long size = BIO_get_mem_data(bio, &data);
    std::string text(data, static_cast<std::size_t>(size));
    BIO_free(bio);
    return text;
  };
  out.cert_pem = pem([&](BIO* bio) { PEM_write_bio_X509(bio, cert); });
  out.key_pem = pem(
      [&](BIO* bio) { PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr); });
  X509_free(cert);
  EVP_PKEY_free(key);
  return out;
}

// An HTTPS server on 127.0.0.1 on the test's io_context: each connection gets 200 "ok" for every
// request, keep-alive.
class TlsServer {
 public:
  TlsServer(boost::asio::io_context& io, const SelfSigned& cert)
      : context_(boost::asio::ssl::context::tls_server), acceptor_(io) {
    context_.use_certificate_chain(boost::asio::buffer(cert.cert_pem));
    context_.use_private_key(boost::asio::buffer(cert.key_pem), boost::asio::ssl::context::pem);
    const boost::asio::ip::tcp::endpoint local(boost::asio::ip::make_address("127.0.0.1"), 0);
    acceptor_.open(local.protocol());
    acceptor_.bind(local);
    acceptor_.listen();
    boost::asio::co_spawn(io, accept(), boost::asio::detached);
  }
  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }

 private:
  boost::asio::awaitable<void> accept() {
    for (;;) {
      boost::system::error_code ec;
      auto socket = co_await acceptor_.async_accept(
          boost::asio::redirect_error(boost::asio::use_awaitable, ec));
      if (ec) co_return;
      boost::asio::co_spawn(acceptor_.get_executor(), serve(std::move(socket)),
                            boost::asio::detached);
    }
  }
  boost::asio::awaitable<void> serve(boost::asio::ip::tcp::socket socket) {
    boost::asio::ssl::stream<boost::asio::ip::tcp::socket> stream(std::move(socket), context_);
    boost::system::error_code ec;
    auto token = boost::asio::redirect_error(boost::asio::use_awaitable, ec);
    co_await stream.async_handshake(boost::asio::ssl::stream_base::server, token);
    boost::asio::streambuf buffer;
    while (!ec) {
      const std::size_t n =
          co_await boost::asio::async_read_until(stream, buffer, "\r\n\r\n", token);
      if (ec) break;
      buffer.consume(n);
      const std::string response = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
      co_await boost::asio::async_write(stream, boost::asio::buffer(response), token);
    }
  }

  boost::asio::ssl::context context_;
  boost::asio::ip::tcp::acceptor acceptor_;
};

class ProbeEndpointTest : public ::testing::Test {
 protected:
  explicit ProbeEndpointTest(int max_concurrent = 128) {
    settings_.config_file = "blackbox.yml";
    settings_.max_concurrent = max_concurrent;
  }

  ProbeEndpoint& endpoint() {
    if (!endpoint_) {
      endpoint_ = std::make_unique<ProbeEndpoint>(io_.get_executor(), registry_, settings_,
                                                  config::PoolSettings{}, modules());
    }
    return *endpoint_;
  }

  static Request request(std::string target, http::verb verb = http::verb::get) {
    Request r{verb, target, 11};
    r.set("X-Prometheus-Scrape-Timeout-Seconds", "5");
    return r;
  }

  // Starts the handler on the test's io_context; the optional holds the answer once made.
  std::shared_ptr<std::optional<Response>> start(const Request& r) {
    auto handler = endpoint().handler();
    return spawn<Response>(io_, [handler, r]() { return handler(r); });
  }

  Response get(const std::string& target, http::verb verb = http::verb::get) {
    const auto answer = start(request(target, verb));
    EXPECT_TRUE(run_until(io_, [&] { return answer->has_value(); })) << target;
    return answer->value_or(Response{});
  }

  void TearDown() override {
    if (endpoint_) endpoint_->stop();
    active::testing::run_for(io_, 20ms);
  }

  boost::asio::io_context io_;
  prometheus::Registry registry_;
  config::ProbeSettings settings_;
  std::unique_ptr<ProbeEndpoint> endpoint_;
};

bool has_line(const std::string& body, const std::string& line) {
  return body.find("\n" + line + "\n") != std::string::npos || body.starts_with(line + "\n");
}

TEST_F(ProbeEndpointTest, AnHttpProbeAnswersBlackboxFamilies) {
  LoopbackServer server({ok_response, {}, {}});
  const auto r =
      get("/probe?module=http_2xx&target=http://127.0.0.1:" + std::to_string(server.port()) + "/");
  EXPECT_EQ(r.result(), http::status::ok);
  const std::string& body = r.body();
  EXPECT_TRUE(has_line(body, "probe_success 1")) << body;
  EXPECT_TRUE(has_line(body, "probe_http_status_code 200")) << body;
  EXPECT_TRUE(has_line(body, "probe_http_version 1.1")) << body;
  EXPECT_TRUE(has_line(body, "probe_ip_protocol 4")) << body;
  EXPECT_TRUE(has_line(body, "probe_http_ssl 0")) << body;
  for (const char* phase : {"resolve", "connect", "processing", "transfer"}) {
    EXPECT_NE(body.find(std::string("probe_http_duration_seconds{phase=\"") + phase + "\"}"),
              std::string::npos)
        << phase << "\n"
        << body;
  }
  EXPECT_NE(body.find("\nprobe_duration_seconds "), std::string::npos) << body;
}

TEST_F(ProbeEndpointTest, ATcpProbeAnswersItsFamilies) {
  LoopbackServer server({nullptr, {}, {}});
  const auto r = get("/probe?module=tcp_connect&target=127.0.0.1:" + std::to_string(server.port()));
  EXPECT_EQ(r.result(), http::status::ok);
  EXPECT_TRUE(has_line(r.body(), "probe_success 1")) << r.body();
  EXPECT_TRUE(has_line(r.body(), "probe_ip_protocol 4")) << r.body();
}

TEST_F(ProbeEndpointTest, AnHttpsProbeAnswersTheCertificatesExpiryAndTlsVersion) {
  const SelfSigned cert = self_signed(30);
  TlsServer server(io_, cert);
  const auto r = get("/probe?module=https_self_signed&target=https://127.0.0.1:" +
                     std::to_string(server.port()) + "/");
  EXPECT_EQ(r.result(), http::status::ok);
  const std::string& body = r.body();
  EXPECT_TRUE(has_line(body, "probe_success 1")) << body;
  EXPECT_TRUE(has_line(body, "probe_http_ssl 1")) << body;
  EXPECT_TRUE(has_line(body, "probe_ip_protocol 4")) << body;
  EXPECT_NE(body.find("probe_http_duration_seconds{phase=\"tls\"}"), std::string::npos) << body;
  EXPECT_TRUE(has_line(body, "probe_tls_version_info{version=\"TLS 1.3\"} 1")) << body;
  const auto at = body.find("\nprobe_ssl_earliest_cert_expiry ");
  ASSERT_NE(at, std::string::npos) << body;
  const double expiry = std::stod(body.substr(at + 32));
  EXPECT_NEAR(expiry, static_cast<double>(cert.not_after), 1.0) << body;
}

TEST_F(ProbeEndpointTest, BadRequestsAre400WithTheReason) {
  auto r = get("/probe?module=http_2xx");
  EXPECT_EQ(r.result(), http::status::bad_request);
  EXPECT_EQ(r.body(), "Target parameter is missing\n");
  r = get("/probe?module=icmp&target=a.test");
  EXPECT_EQ(r.result(), http::status::bad_request);
  EXPECT_EQ(r.body(), "Unknown module \"icmp\" (the module file defines 3 module(s))\n");
  r = get("/probe?module=tcp_connect&target=http://a.test/");
  EXPECT_EQ(r.result(), http::status::bad_request);
  EXPECT_NE(r.body().find("tcp module"), std::string::npos) << r.body();
  r = get("/probe?target=" + std::string(3000, 'a'));
  EXPECT_EQ(r.result(), http::status::bad_request);
  EXPECT_EQ(r.body(), "target is 3000 bytes long (at most 2048)\n");
}

TEST_F(ProbeEndpointTest, OnlyGetAndHeadAreAllowed) {
  const auto r = get("/probe?target=a.test", http::verb::post);
  EXPECT_EQ(r.result(), http::status::method_not_allowed);
  EXPECT_EQ(r[http::field::allow], "GET, HEAD");
}

TEST_F(ProbeEndpointTest, ATargetThatWouldSmuggleARequestIsRefusedUnsent) {
  LoopbackServer server({ok_response, {}, {}});
  const std::string port = std::to_string(server.port());
  for (const std::string escape : {"%0D%0A", "%0A", "%00", "%20", "%7F", "+"}) {
    const auto r = get("/probe?target=http://127.0.0.1:" + port + "/x" + escape +
                       "X-Evil:%201%0D%0A%0D%0AGET%20/admin");
    EXPECT_EQ(r.result(), http::status::bad_request) << escape;
    EXPECT_NE(r.body().find("control character or space"), std::string::npos) << r.body();
  }
  EXPECT_EQ(server.accepted(), 0);
  // Escaped in the target URL, the bytes stay escaped on the wire: a probe like any other.
  const auto r = get("/probe?target=http://127.0.0.1:" + port + "/x%250D%250A");
  EXPECT_EQ(r.result(), http::status::ok);
  EXPECT_TRUE(has_line(r.body(), "probe_success 1")) << r.body();
}

TEST_F(ProbeEndpointTest, AReloadThatClosesThePoolMidProbeIsA503NotAFailure) {
  LoopbackServer silent({nullptr, {}, {}});
  const auto probe =
      start(request("/probe?target=http://127.0.0.1:" + std::to_string(silent.port()) + "/"));
  ASSERT_TRUE(run_until(io_, [&] { return silent.accepted() == 1; }));
  auto next = modules();
  next.erase("http_2xx");
  endpoint().reconfigure(next, settings_, config::PoolSettings{});
  ASSERT_TRUE(run_until(
      io_, [&] { return probe->has_value(); }, 500ms));
  EXPECT_EQ((*probe)->result(), http::status::service_unavailable);
  EXPECT_EQ((*probe)->body().find("probe_success"), std::string::npos) << (*probe)->body();
  EXPECT_NE((*probe)->body().find("a reload replaced its pool"), std::string::npos);
}

TEST_F(ProbeEndpointTest, PoolsKeepIdleConnectionsForProbeIdleTimeoutNotPoolIdleTimeout) {
  // [pool] idle_timeout (30 s) would close every connection before the next 1 m scrape.
  EXPECT_EQ(config::PoolSettings{}.idle_timeout, 30s);
  EXPECT_EQ(endpoint().pools().pool_settings().idle_timeout, 5min);
  config::PoolSettings pool;
  pool.max_connections = 2;
  settings_.idle_timeout = 3min;
  endpoint().reconfigure(modules(), settings_, pool);
  EXPECT_EQ(endpoint().pools().pool_settings().idle_timeout, 3min);
  EXPECT_EQ(endpoint().pools().pool_settings().max_connections, 2);
}

class ProbeEndpointLimitTest : public ProbeEndpointTest {
 protected:
  ProbeEndpointLimitTest() : ProbeEndpointTest(1) {}
};

TEST_F(ProbeEndpointLimitTest, BeyondMaxConcurrentA503AtOnce) {
  LoopbackServer silent({nullptr, {}, {}});  // accepts, never answers: the probe runs 1 s
  const std::string target =
      "/probe?target=http://127.0.0.1:" + std::to_string(silent.port()) + "/";
  const auto slow = start(request(target));
  ASSERT_TRUE(run_until(io_, [&] { return endpoint().in_flight() == 1; }));
  const auto refused = start(request(target));
  ASSERT_TRUE(run_until(
      io_, [&] { return refused->has_value(); }, 200ms));
  EXPECT_EQ((*refused)->result(), http::status::service_unavailable);
  EXPECT_EQ((*refused)->body(),
            "too many probes in flight (1, [probe] max_concurrent): try again later\n");
  ASSERT_TRUE(run_until(io_, [&] { return slow->has_value(); }));
  EXPECT_EQ((*slow)->result(), http::status::ok);
  EXPECT_EQ(endpoint().in_flight(), 0);
}

}  // namespace
}  // namespace connwatch::exporters
