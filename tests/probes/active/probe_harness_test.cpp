// ProbeHarness against scripted loopback servers: Retry-After is a floor with the jittered backoff
// above it, only a Retry-After longer than the interval stops the retries (and says so), a tcp://
// probe checks the listener every time, and every attempt's TCP_INFO reaches the metrics.
#include "probes/active/probe_harness.h"

#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <spdlog/spdlog.h>

#include <boost/asio/ssl/context.hpp>
#include <string>

#include "io_test_support.h"
#include "loopback_server.h"
#include "tests/support/log_capture.h"

namespace connwatch::active {
namespace {

using namespace std::chrono_literals;
using testing::LoopbackServer;
using testing::run_until;
using testing::spawn;

std::string response(int status, const std::string& headers = "") {
  return "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Length: 2\r\n" + headers + "\r\nok";
}

// The scripted answers: `first` to the first request, 200 to every later one.
LoopbackServer::Options first_then_ok(std::string first) {
  LoopbackServer::Options options;
  options.responder = [first](int n) { return n == 0 ? first : response(200); };
  return options;
}

using connwatch::test_support::LogCapture;

class HarnessTest : public ::testing::Test {
 protected:
  config::Target target(const std::string& url) {
    config::Target t;
    t.name = "t";
    std::string error;
    t.url = *config::parse_target_url(url, error);
    t.url_text = url;
    t.interval = 10s;
    t.pool.connect_timeout = 1s;
    t.pool.request_timeout = 1s;
    t.retry.max_attempts = 2;
    t.retry.base_delay = 100ms;
    t.retry.max_delay = 400ms;
    t.retry.jitter = config::Jitter::kFull;
    t.retry.budget_ratio = 1.0;
    return t;
  }

  std::shared_ptr<ProbeHarness> harness(const config::Target& t) {
    // Every draw is 0.5: full jitter on retry 0 of base 100 ms waits 50 ms.
    return ProbeHarness::create(io.get_executor(), t,
                                std::make_shared<TargetMetrics>(families, "t"), &tls,
                                [] { return 0.5; });
  }

  ProbeReport probe(const std::shared_ptr<ProbeHarness>& h) {
    auto report = spawn<std::optional<ProbeReport>>(
        io, [h]() -> boost::asio::awaitable<std::optional<ProbeReport>> {
          co_return co_await h->run();
        });
    EXPECT_TRUE(run_until(
        io, [&] { return report->has_value(); }, 10s));
    return report->value_or(std::nullopt).value_or(ProbeReport{});
  }

  std::string url(const LoopbackServer& server, const std::string& scheme = "http") {
    return scheme + "://127.0.0.1:" + std::to_string(server.port()) + (scheme == "http" ? "/" : "");
  }

  prometheus::Registry registry;
  ActiveMetrics families{registry};
  boost::asio::io_context io;
  boost::asio::ssl::context tls{boost::asio::ssl::context::tls_client};
};

TEST_F(HarnessTest, RetryAfterIsAFloorWithTheJitteredBackoffAboveIt) {
  LoopbackServer server(first_then_ok(response(503, "Retry-After: 1\r\n")));
  auto h = harness(target(url(server)));
  const ProbeReport report = probe(h);
  EXPECT_EQ(report.result, ProbeResult::kAfterRetry);
  ASSERT_EQ(report.retry_delays_seconds.size(), 1U);
  // 1 s asked, plus retry 0's full-jitter draw: 0.5 * 100 ms. Not max(1 s, 50 ms) = 1 s.
  EXPECT_NEAR(report.retry_delays_seconds[0], 1.050, 0.0005);
  EXPECT_GE(report.duration_seconds, 1.050);
  h->stop();
}

TEST_F(HarnessTest, ABackoffLongerThanTheIntervalIsNotTheServerAsking) {
  LogCapture log;
  LoopbackServer server(first_then_ok(response(503)));
  config::Target t = target(url(server));
  t.interval = 100ms;
  t.retry.jitter = config::Jitter::kNone;
  t.retry.base_delay = 300ms;
  t.retry.max_delay = 300ms;
  auto h = harness(t);
  const ProbeReport report = probe(h);
  EXPECT_EQ(report.result, ProbeResult::kAfterRetry) << log.text();
  EXPECT_EQ(report.attempts, 2);
  ASSERT_EQ(report.retry_delays_seconds.size(), 1U);
  EXPECT_NEAR(report.retry_delays_seconds[0], 0.3, 0.0005);
  EXPECT_EQ(log.text().find("asked"), std::string::npos) << log.text();
  EXPECT_EQ(h->metrics().counts().results[index_of(ProbeResult::kExhausted)], 0U);
  h->stop();
}

TEST_F(HarnessTest, ARetryAfterLongerThanTheIntervalStopsTheRetriesAndSaysSo) {
  LogCapture log;
  LoopbackServer server(first_then_ok(response(503, "Retry-After: 60\r\n")));
  auto h = harness(target(url(server)));
  const ProbeReport report = probe(h);
  EXPECT_EQ(report.result, ProbeResult::kExhausted);
  EXPECT_EQ(report.attempts, 1);
  EXPECT_TRUE(report.retry_delays_seconds.empty());
  EXPECT_NE(log.text().find("the server asked to retry after 60000 ms (Retry-After)"),
            std::string::npos)
      << log.text();
  h->stop();
}

TEST_F(HarnessTest, ATcpProbeDialsEveryTimeSoAClosedListenerFailsTheNextProbe) {
  // The server keeps the accepted connection open but stops listening (a service that stopped
  // accepting, a peer that is gone): only a new connection notices.
  LoopbackServer server({});
  auto h = harness(target(url(server, "tcp")));
  ProbeReport report = probe(h);
  ASSERT_TRUE(report.success) << report.error;
  EXPECT_FALSE(report.connection_reused);
  server.close_listener();
  ASSERT_TRUE(LoopbackServer::wait_until([&] { return server.accepted() == 1; }));
  std::this_thread::sleep_for(50ms);  // the server thread closes the listener within 5 ms
  report = probe(h);
  EXPECT_FALSE(report.success);
  EXPECT_EQ(report.outcome, Outcome::kRefused) << report.error;
  EXPECT_EQ(h->metrics().counts().opened, 1U);
  h->stop();
}

TEST_F(HarnessTest, EveryAttemptReportsItsConnectionsTcpInfo) {
  LoopbackServer server(first_then_ok(response(200)));
  auto h = harness(target(url(server)));
  ASSERT_TRUE(probe(h).success);
  ASSERT_TRUE(h->metrics().counts().tcp_rtt_seconds.has_value());
  EXPECT_GT(*h->metrics().counts().tcp_rtt_seconds, 0.0);
  EXPECT_EQ(h->metrics().counts().tcp_retransmits, 0U);
  bool exported = false;
  for (const auto& family : registry.Collect()) {
    if (family.name == "connwatch_probe_tcp_rtt_seconds") {
      ASSERT_EQ(family.metric.size(), 1U);
      EXPECT_EQ(family.metric[0].gauge.value, *h->metrics().counts().tcp_rtt_seconds);
      exported = true;
    }
  }
  EXPECT_TRUE(exported);
  h->stop();
}

}  // namespace
}  // namespace connwatch::active
