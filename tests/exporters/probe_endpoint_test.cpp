// GET /probe as Prometheus sends it, through ProbeEndpoint's handler against a scripted loopback
// server: the families of a probe that succeeded (HTTP version, IP family, phase durations), the
// 400/405 answers, refused targets that would smuggle bytes into the request line, and the 503
// when [probe] max_concurrent probes are already running.
#include "exporters/probe_endpoint.h"

#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <boost/asio/io_context.hpp>
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
  return m;
}

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

TEST_F(ProbeEndpointTest, BadRequestsAre400WithTheReason) {
  auto r = get("/probe?module=http_2xx");
  EXPECT_EQ(r.result(), http::status::bad_request);
  EXPECT_EQ(r.body(), "Target parameter is missing\n");
  r = get("/probe?module=icmp&target=a.test");
  EXPECT_EQ(r.result(), http::status::bad_request);
  EXPECT_EQ(r.body(), "Unknown module \"icmp\" (the module file defines 2 module(s))\n");
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
