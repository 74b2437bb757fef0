// What a /probe request asks, read as blackbox_exporter reads it: the query's target and module,
// and the probe's deadline from X-Prometheus-Scrape-Timeout-Seconds.
#include "exporters/probe_request.h"

#include <gtest/gtest.h>

namespace connwatch::exporters {
namespace {

using namespace std::chrono_literals;
using Seconds = std::chrono::duration<double>;

TEST(ProbeQuery, ReadsTargetAndModuleAsPrometheusRelabellingSendsThem) {
  std::string error;
  const auto q = parse_probe_query(
      "/probe?module=http_2xx&target=http%3A%2F%2Fapi.test%3A8080%2Fhealth%3Fa%3D1%26b%3D2", error);
  ASSERT_TRUE(q) << error;
  EXPECT_EQ(q->module, "http_2xx");
  EXPECT_EQ(q->target, "http://api.test:8080/health?a=1&b=2");
}

TEST(ProbeQuery, ModuleDefaultsToHttp2xxAsInBlackbox) {
  std::string error;
  EXPECT_EQ(parse_probe_query("/probe?target=a.test", error)->module, "http_2xx");
  EXPECT_EQ(parse_probe_query("/probe?target=a.test&module=", error)->module, "http_2xx");
}

TEST(ProbeQuery, DebugIsOnOnlyForTrueAsInBlackbox) {
  std::string error;
  EXPECT_FALSE(parse_probe_query("/probe?target=a.test", error)->debug);
  EXPECT_TRUE(parse_probe_query("/probe?target=a.test&debug=true", error)->debug);
  EXPECT_FALSE(parse_probe_query("/probe?target=a.test&debug=1", error)->debug);
  EXPECT_FALSE(parse_probe_query("/probe?debug=false&target=a.test&debug=true", error)->debug)
      << "the first of repeated keys wins";
}

TEST(RedirectTarget, ResolvesLocationsAgainstTheRequestAsRfc3986Does) {
  const std::string_view origin = "http://api.test:8080";
  const std::string_view path = "/v1/health?verbose=1";
  EXPECT_EQ(redirect_target(origin, path, "https://login.test/x"), "https://login.test/x");
  EXPECT_EQ(redirect_target(origin, path, "HTTP://Other.test/"), "http://Other.test/");
  EXPECT_EQ(redirect_target(origin, path, "//cdn.test/a"), "http://cdn.test/a");
  EXPECT_EQ(redirect_target(origin, path, "/login?next=%2F"),
            "http://api.test:8080/login?next=%2F");
  EXPECT_EQ(redirect_target(origin, path, "status"), "http://api.test:8080/v1/status");
  EXPECT_EQ(redirect_target(origin, path, "?page=2"), "http://api.test:8080/v1/health?page=2");
  EXPECT_EQ(redirect_target(origin, "", "a"), "http://api.test:8080/a");
  EXPECT_EQ(redirect_target(origin, path, " /b#top "), "http://api.test:8080/b");
  EXPECT_EQ(redirect_target(origin, path, "a:b/c"), std::nullopt) << "scheme a";
  EXPECT_EQ(redirect_target(origin, path, "./a:b"), "http://api.test:8080/v1/./a:b")
      << "a colon after a slash is not a scheme";
  EXPECT_EQ(redirect_target(origin, path, "ftp://files.test/"), std::nullopt);
  EXPECT_EQ(redirect_target(origin, path, "mailto:ops@test"), std::nullopt);
  EXPECT_EQ(redirect_target(origin, path, "http::tarvx"), std::nullopt) << "no authority (fuzzed)";
  EXPECT_EQ(redirect_target(origin, path, "https:/one-slash"), std::nullopt);
  EXPECT_EQ(redirect_target(origin, path, ""), std::nullopt);
  EXPECT_EQ(redirect_target(origin, path, "#only-a-fragment"), std::nullopt);
}

TEST(ProbeQuery, PlusIsASpaceAndTheFirstOfRepeatedKeysWins) {
  std::string error;
  const auto q = parse_probe_query("/probe?target=a+b&target=c&module=m1&module=m2&x=y", error);
  ASSERT_TRUE(q) << error;
  EXPECT_EQ(q->target, "a b");
  EXPECT_EQ(q->module, "m1");
}

TEST(ProbeQuery, AMissingOrEmptyTargetIsAnError) {
  std::string error;
  EXPECT_FALSE(parse_probe_query("/probe", error));
  EXPECT_EQ(error, "Target parameter is missing");
  EXPECT_FALSE(parse_probe_query("/probe?module=http_2xx&target=", error));
  EXPECT_FALSE(parse_probe_query("/probe?targets=a", error));
}

TEST(ProbeQuery, ABadEscapeIsAnError) {
  std::string error;
  EXPECT_FALSE(parse_probe_query("/probe?target=%zz", error));
  EXPECT_NE(error.find("%-escape"), std::string::npos);
  EXPECT_FALSE(parse_probe_query("/probe?target=a%4", error));
  EXPECT_FALSE(parse_probe_query("/probe?target=a%", error));
}

TEST(ProbeQuery, ABadEscapeInAnotherKeyIsSkippedAsGoDoes) {
  std::string error;
  const auto q = parse_probe_query("/probe?x=%zz&%zz=1&target=a.test&debug=%4&module=m", error);
  ASSERT_TRUE(q) << error;
  EXPECT_EQ(q->target, "a.test");
  EXPECT_EQ(q->module, "m");
  // Only the first target counts: a later bad one is another pair to skip.
  EXPECT_TRUE(parse_probe_query("/probe?target=a.test&target=%zz", error));
}

TEST(ProbeQuery, ATargetLongerThan2KiBIsAnError) {
  std::string error;
  const std::string at_limit(kMaxProbeTarget, 'a');
  EXPECT_TRUE(parse_probe_query("/probe?target=" + at_limit, error)) << error;
  EXPECT_FALSE(parse_probe_query("/probe?target=" + at_limit + "a", error));
  EXPECT_EQ(error, "target is 2049 bytes long (at most 2048)");
  // Counted decoded: %41 is one byte.
  std::string escaped = "/probe?target=";
  for (std::size_t i = 0; i < kMaxProbeTarget; ++i) escaped += "%41";
  EXPECT_TRUE(parse_probe_query(escaped, error)) << error;
}

TEST(ProbeTimeout, TheScrapeTimeoutMinusTheOffsetWhenShorterThanTheModules) {
  std::string error;
  EXPECT_DOUBLE_EQ(probe_timeout("3", 5s, 500ms, error)->count(), 2.5);
  EXPECT_DOUBLE_EQ(probe_timeout("10", 5s, 500ms, error)->count(), 5.0);
  EXPECT_DOUBLE_EQ(probe_timeout("5.5", 5s, 500ms, error)->count(), 5.0);
  EXPECT_DOUBLE_EQ(probe_timeout("0.75", 5s, 500ms, error)->count(), 0.25);
}

TEST(ProbeTimeout, WithoutTheHeaderTheModulesTimeoutUpTo120Seconds) {
  std::string error;
  EXPECT_DOUBLE_EQ(probe_timeout(std::nullopt, 5s, 500ms, error)->count(), 5.0);
  EXPECT_DOUBLE_EQ(probe_timeout(std::nullopt, Seconds(0), 500ms, error)->count(), 119.5);
  EXPECT_DOUBLE_EQ(probe_timeout("0", 300s, 500ms, error)->count(), 119.5);
}

TEST(ProbeTimeout, BelowTheOffsetTheModulesTimeoutAppliesAsInBlackbox) {
  std::string error;
  EXPECT_DOUBLE_EQ(probe_timeout("0.2", 5s, 500ms, error)->count(), 5.0);
}

TEST(ProbeTimeout, AHugeHeaderIsClampedBeforeAnyoneCastsIt) {
  std::string error;
  // A module without timeout: the header alone decides; 1e300 s overflowed duration_cast.
  const auto huge = probe_timeout("1e300", Seconds(0), 500ms, error);
  ASSERT_TRUE(huge) << error;
  EXPECT_DOUBLE_EQ(huge->count(), kMaxProbeTimeout.count());
  EXPECT_GT(std::chrono::duration_cast<std::chrono::steady_clock::duration>(*huge).count(), 0);
  EXPECT_DOUBLE_EQ(probe_timeout("1e300", 5s, 500ms, error)->count(), 5.0);
  EXPECT_DOUBLE_EQ(probe_timeout("600", Seconds(0), 500ms, error)->count(), 120.0);
  EXPECT_DOUBLE_EQ(probe_timeout("-1e300", Seconds(0), 500ms, error)->count(), 0.0);
}

TEST(ProbeTimeout, BelowTheOffsetWithoutAModuleTimeoutTheBudgetIsZeroAsInBlackbox) {
  std::string error;
  EXPECT_DOUBLE_EQ(probe_timeout("0.2", Seconds(0), 500ms, error)->count(), 0.0);
  EXPECT_DOUBLE_EQ(probe_timeout("-3", Seconds(0), 500ms, error)->count(), 0.0);
}

TEST(ProbeTimeout, AHeaderThatIsNotANumberIsAnError) {
  std::string error;
  EXPECT_FALSE(probe_timeout("soon", 5s, 500ms, error));
  EXPECT_NE(error.find("X-Prometheus-Scrape-Timeout-Seconds"), std::string::npos);
  EXPECT_FALSE(probe_timeout("3s", 5s, 500ms, error));
  EXPECT_FALSE(probe_timeout("inf", 5s, 500ms, error));
}

}  // namespace
}  // namespace connwatch::exporters
