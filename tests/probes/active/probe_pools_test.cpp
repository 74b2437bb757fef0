// The /probe pools: one per (module, target), reused by the next scrape of the same pair (one
// connection over several probes), least recently used evicted beyond max_pools, removed with
// their module on reload, and a probe's budget (the scrape's deadline) cutting a slow answer short.
#include "probes/active/probe_pools.h"

#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <boost/asio/io_context.hpp>

#include "io_test_support.h"
#include "loopback_server.h"
#include "probes/active/module_target.h"
#include "tests/support/log_capture.h"

namespace connwatch::active {
namespace {

using namespace std::chrono_literals;
using testing::LoopbackServer;
using testing::run_until;
using testing::spawn;

config::ProbeModule http_module(std::string name = "http_2xx") {
  config::ProbeModule m;
  m.name = std::move(name);
  m.timeout = 2s;
  return m;
}

class ProbePoolsTest : public ::testing::Test {
 protected:
  config::Target target_for(const config::ProbeModule& module, const std::string& text) {
    std::string error;
    auto t = make_module_target(module, text, config::PoolSettings{}, error);
    EXPECT_TRUE(t) << error;
    return *t;
  }

  std::optional<ProbeReport> probe(ProbePools& pools, const config::ProbeModule& module,
                                   const std::string& text,
                                   std::chrono::steady_clock::duration budget = 2s) {
    const config::Target t = target_for(module, text);
    auto result = spawn<std::optional<ProbeReport>>(
        io,
        [&pools, name = module.name, text, t,
         budget]() -> boost::asio::awaitable<std::optional<ProbeReport>> {
          co_return co_await pools.probe(name, text, t, budget);
        });
    EXPECT_TRUE(run_until(io, [&] { return result->has_value(); }));
    return result->value_or(std::nullopt);
  }

  std::string metrics_text() { return prometheus::TextSerializer().Serialize(registry.Collect()); }

  boost::asio::io_context io;
  prometheus::Registry registry;
};

std::string ok_response(int) { return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"; }

TEST_F(ProbePoolsTest, SecondScrapeOfATargetReusesItsConnection) {
  LoopbackServer server({.responder = ok_response, .banner = "", .banner_delay = {}});
  ProbePools pools(io.get_executor(), registry, 10, {});
  const auto module = http_module();
  const std::string target = "127.0.0.1:" + std::to_string(server.port());
  for (int i = 0; i < 3; ++i) {
    const auto report = probe(pools, module, target);
    ASSERT_TRUE(report);
    EXPECT_TRUE(report->success) << report->error;
    EXPECT_EQ(report->connection_reused, i > 0) << "probe " << i;
  }
  EXPECT_EQ(server.accepted(), 1);
  EXPECT_EQ(server.requests(), 3);
  EXPECT_EQ(pools.size(), 1U);
  const TargetCounts* counts = pools.counts(module.name, target);
  ASSERT_NE(counts, nullptr);
  EXPECT_EQ(counts->opened, 1U);
  EXPECT_EQ(counts->requests_reused, 2U);
  // The pool's own series stay out of the registry /metrics serves.
  EXPECT_EQ(metrics_text().find("connwatch_pool_requests_total"), std::string::npos);
}

TEST_F(ProbePoolsTest, EvictsTheLeastRecentlyUsedPoolBeyondMaxPools) {
  LoopbackServer server({.responder = ok_response, .banner = "", .banner_delay = {}});
  ProbePools pools(io.get_executor(), registry, 2, {});
  const auto port = std::to_string(server.port());
  const auto a = http_module("a"), b = http_module("b"), c = http_module("c");
  const std::string target = "127.0.0.1:" + port;
  ASSERT_TRUE(probe(pools, a, target));
  ASSERT_TRUE(probe(pools, b, target));
  ASSERT_TRUE(probe(pools, a, target));  // a is now the most recently used
  ASSERT_TRUE(probe(pools, c, target));  // evicts b
  using Keys = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(pools.keys(), (Keys{{"c", target}, {"a", target}}));
  EXPECT_EQ(pools.evictions(), 1U);
  EXPECT_NE(metrics_text().find("connwatch_probe_endpoint_pool_evictions_total 1"),
            std::string::npos);
  EXPECT_NE(metrics_text().find("connwatch_probe_endpoint_pools 2"), std::string::npos);
  // b comes back with a new pool (a new connection).
  const auto again = probe(pools, b, target);
  ASSERT_TRUE(again);
  EXPECT_FALSE(again->connection_reused);
  EXPECT_EQ(pools.keys(), (Keys{{"b", target}, {"c", target}}));  // a was the least recent
  EXPECT_EQ(pools.evictions(), 2U);
}

TEST_F(ProbePoolsTest, PoolsEvictedAtTheScrapeRateWarnOnceToRaiseMaxPools) {
  test_support::LogCapture log;
  ProbePools pools(io.get_executor(), registry, 1, {});
  const auto m = http_module();
  const auto acquire = [&](const std::string& t) { pools.acquire(m.name, t, target_for(m, t)); };
  acquire("a.test");
  acquire("b.test");  // evicts a: no warning yet
  EXPECT_EQ(log.count("raise [probe] max_pools"), 0) << log.text();
  for (int scrape = 0; scrape < 5; ++scrape) {
    acquire("a.test");  // each scrape of two targets finds its pool just evicted
    acquire("b.test");
  }
  EXPECT_EQ(pools.thrashes(), 10U);
  EXPECT_EQ(log.count("raise [probe] max_pools"), 1) << log.text();
  EXPECT_NE(log.text().find("than [probe] max_pools (1)"), std::string::npos) << log.text();
}

TEST_F(ProbePoolsTest, TheSameTargetUnderAnotherModuleHasItsOwnPool) {
  LoopbackServer server({.responder = ok_response, .banner = "", .banner_delay = {}});
  ProbePools pools(io.get_executor(), registry, 10, {});
  const std::string target = "127.0.0.1:" + std::to_string(server.port());
  ASSERT_TRUE(probe(pools, http_module("one"), target));
  const auto other = probe(pools, http_module("two"), target);
  ASSERT_TRUE(other);
  EXPECT_FALSE(other->connection_reused);
  EXPECT_EQ(server.accepted(), 2);
}

TEST_F(ProbePoolsTest, AReloadWithoutTheModuleClosesItsPools) {
  LoopbackServer server({.responder = ok_response, .banner = "", .banner_delay = {}});
  ProbePools pools(io.get_executor(), registry, 10, {});
  const std::string target = "127.0.0.1:" + std::to_string(server.port());
  const auto kept = http_module("kept"), gone = http_module("gone");
  ASSERT_TRUE(probe(pools, kept, target));
  ASSERT_TRUE(probe(pools, gone, target));
  pools.reconfigure({{"kept", kept}}, 10, {});
  using Keys = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(pools.keys(), (Keys{{"kept", target}}));
  // The kept pool's connection survived the reload.
  const auto report = probe(pools, kept, target);
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->connection_reused);
}

TEST_F(ProbePoolsTest, TheBudgetEndsAProbeTheServerNeverAnswers) {
  LoopbackServer server({});  // accepts, never answers
  ProbePools pools(io.get_executor(), registry, 10, {});
  const auto started = std::chrono::steady_clock::now();
  const auto report =
      probe(pools, http_module(), "127.0.0.1:" + std::to_string(server.port()), 300ms);
  const auto took = std::chrono::steady_clock::now() - started;
  ASSERT_TRUE(report);
  EXPECT_FALSE(report->success);
  EXPECT_EQ(report->outcome, Outcome::kTimeout);
  EXPECT_EQ(report->attempts, 1);  // /probe does not retry: one attempt per scrape
  EXPECT_GE(took, 250ms);
  EXPECT_LT(took, 1500ms);  // the module's 2 s timeout did not apply
}

TEST_F(ProbePoolsTest, AModulesPoolsShareOneTlsContextBuiltWhenTheModulesLoad) {
  auto tls = http_module("https_insecure");
  tls.tls.insecure_skip_verify = true;
  config::ProbeModules modules{{tls.name, tls}, {"http_2xx", http_module()}};
  ProbePools pools(io.get_executor(), registry, 10, {});
  pools.load_tls_contexts(modules);
  const auto context = pools.tls_context(tls.name);
  ASSERT_NE(context, nullptr);  // built at load, not when the first pool is made
  EXPECT_EQ(pools.tls_context("http_2xx"), nullptr);
  const auto a = pools.acquire(tls.name, "https://a.test/", target_for(tls, "https://a.test/"));
  const auto b = pools.acquire(tls.name, "https://b.test/", target_for(tls, "https://b.test/"));
  EXPECT_EQ(a->pool().options().tls, context.get());
  EXPECT_EQ(b->pool().options().tls, context.get());
  // A reload with the same tls_config keeps it (and the pools' connections); another builds anew.
  pools.reconfigure(modules, 10, {});
  EXPECT_EQ(pools.tls_context(tls.name), context);
  EXPECT_EQ(a->pool().options().tls, context.get());
  modules.at(tls.name).tls.server_name = "other.test";
  pools.reconfigure(modules, 10, {});
  EXPECT_NE(pools.tls_context(tls.name), context);
  EXPECT_EQ(a->pool().options().tls, pools.tls_context(tls.name).get());
}

}  // namespace
}  // namespace connwatch::active
