// A /probe request's (module, target) as the target the harness runs: targets as blackbox takes
// them (a URL or host:port for http, host:port for tcp), the module's keys carried over.
#include "probes/active/module_target.h"

#include <gtest/gtest.h>

#include "probes/active/target_resolver.h"

namespace connwatch::active {
namespace {

using namespace std::chrono_literals;

config::ProbeModule module(config::ProberKind kind) {
  config::ProbeModule m;
  m.name = kind == config::ProberKind::kHttp ? "http_2xx" : "tcp_connect";
  m.prober = kind;
  m.timeout = 3s;
  return m;
}

std::optional<config::Target> make(const config::ProbeModule& m, std::string_view target,
                                   std::string& error) {
  config::PoolSettings pool;
  pool.idle_timeout = 90s;
  return make_module_target(m, target, pool, error);
}

TEST(ModuleTarget, AnHttpTargetWithoutSchemeIsHttp) {
  std::string error;
  const auto t = make(module(config::ProberKind::kHttp), "example.test:8080", error);
  ASSERT_TRUE(t) << error;
  EXPECT_EQ(t->url.scheme, config::Scheme::kHttp);
  EXPECT_EQ(t->url.host, "example.test");
  EXPECT_EQ(t->url.port, 8080);
  EXPECT_EQ(t->url.path, "/");
}

TEST(ModuleTarget, AnHttpsUrlKeepsItsSchemePathAndQuery) {
  std::string error;
  const auto t = make(module(config::ProberKind::kHttp), "HTTPS://[::1]/health?x=1", error);
  ASSERT_TRUE(t) << error;
  EXPECT_EQ(t->url.scheme, config::Scheme::kHttps);
  EXPECT_EQ(t->url.host, "::1");
  EXPECT_EQ(t->url.port, 443);
  EXPECT_EQ(t->url.path, "/health?x=1");
}

TEST(ModuleTarget, ATcpTargetIsHostAndPort) {
  std::string error;
  const auto t = make(module(config::ProberKind::kTcp), "[::1]:5432", error);
  ASSERT_TRUE(t) << error;
  EXPECT_EQ(t->url.scheme, config::Scheme::kTcp);
  EXPECT_EQ(t->url.port, 5432);
  EXPECT_FALSE(make(module(config::ProberKind::kTcp), "tcp://db:5432", error));
  EXPECT_NE(error.find("host:port"), std::string::npos) << error;
  EXPECT_FALSE(make(module(config::ProberKind::kTcp), "db", error));
  EXPECT_NE(error.find("port"), std::string::npos) << error;
}

TEST(ModuleTarget, AnUnparsableTargetSaysWhy) {
  std::string error;
  EXPECT_FALSE(make(module(config::ProberKind::kHttp), "http://host:99999/", error));
  EXPECT_NE(error.find("99999"), std::string::npos) << error;
}

TEST(ModuleTarget, CarriesTheModuleKeysAndOneAttemptPerScrape) {
  auto m = module(config::ProberKind::kHttp);
  m.method = "POST";
  m.headers = {{"Host", "api.test"}};
  m.body = "ping";
  m.fail_if_body_not_matches = {"ok", "up"};
  m.preferred_ip_protocol = config::IpProtocol::kIp4;
  m.ip_protocol_fallback = false;
  m.tls.server_name = "api.test";
  std::string error;
  const auto t = make(m, "http://127.0.0.1:1/", error);
  ASSERT_TRUE(t) << error;
  EXPECT_EQ(t->method, "POST");
  EXPECT_EQ(t->headers.at("Host"), "api.test");
  EXPECT_EQ(t->body, "ping");
  EXPECT_EQ(t->fail_if_body_not_matches_more, (std::vector<std::string>{"ok", "up"}));
  EXPECT_EQ(t->ip_protocol, config::IpProtocol::kIp4);
  EXPECT_EQ(t->tls.server_name, "api.test");
  EXPECT_EQ(t->pool.connect_timeout, 3s);
  EXPECT_EQ(t->pool.request_timeout, 3s);
  EXPECT_EQ(t->pool.idle_timeout, 90s);  // [pool]'s
  EXPECT_EQ(t->retry.max_attempts, 1);
}

TEST(ModuleTarget, WithoutAModuleTimeoutOnlyTheScrapeDeadlineBoundsTheProbe) {
  auto m = module(config::ProberKind::kHttp);
  m.timeout = config::Duration(0);
  std::string error;
  const auto t = make(m, "127.0.0.1:1", error);
  ASSERT_TRUE(t) << error;
  EXPECT_EQ(t->pool.connect_timeout, 119500ms);
  EXPECT_EQ(t->pool.request_timeout, 119500ms);
}

TEST(ModuleTarget, NoValidStatusCodesMeansAny2xx) {
  std::string error;
  const auto t = make(module(config::ProberKind::kHttp), "127.0.0.1:1", error);
  ASSERT_TRUE(t) << error;
  EXPECT_EQ(t->expect_status.front(), 200);
  EXPECT_EQ(t->expect_status.back(), 299);
  EXPECT_EQ(t->expect_status.size(), 100U);
  auto m = module(config::ProberKind::kHttp);
  m.valid_status_codes = {200, 503};
  EXPECT_EQ(make(m, "127.0.0.1:1", error)->expect_status, (std::vector<int>{200, 503}));
}

TEST(ModuleTarget, TheFallbackTriesThePreferredFamilyFirstAsBlackbox) {
  std::string error;
  auto m = module(config::ProberKind::kHttp);
  m.preferred_ip_protocol = config::IpProtocol::kIp4;  // fallback true: blackbox's default
  EXPECT_EQ(make(m, "a.test", error)->ip_protocol, config::IpProtocol::kIp4First);
  m.preferred_ip_protocol = config::IpProtocol::kIp6;
  EXPECT_EQ(make(m, "a.test", error)->ip_protocol, config::IpProtocol::kAuto);
  m.ip_protocol_fallback = false;
  EXPECT_EQ(make(m, "a.test", error)->ip_protocol, config::IpProtocol::kIp6);
}

TEST(TargetResolverOrder, ThePreferredFamilyFirstEachInTheResolversOrder) {
  namespace ip = boost::asio::ip;
  const auto ep = [](const char* a) { return ip::tcp::endpoint(ip::make_address(a), 80); };
  const std::vector<ip::tcp::endpoint> resolved = {ep("192.0.2.1"), ep("2001:db8::1"),
                                                   ep("192.0.2.2"), ep("2001:db8::2")};
  auto v = resolved;
  order_by_family(v, config::IpProtocol::kIp4First);
  EXPECT_EQ(v, (std::vector<ip::tcp::endpoint>{ep("192.0.2.1"), ep("192.0.2.2"), ep("2001:db8::1"),
                                               ep("2001:db8::2")}));
  v = resolved;
  order_by_family(v, config::IpProtocol::kAuto);
  EXPECT_EQ(v, (std::vector<ip::tcp::endpoint>{ep("2001:db8::1"), ep("2001:db8::2"),
                                               ep("192.0.2.1"), ep("192.0.2.2")}));
}

}  // namespace
}  // namespace connwatch::active
