// Backoff, RetryBudget and the header parsers the retry policy reads (TCP-NOTES §6).
#include "probes/active/backoff.h"

#include <gtest/gtest.h>

#include <random>
#include <set>

#include "probes/active/keep_alive.h"
#include "probes/active/retry_after.h"
#include "probes/active/retry_budget.h"

namespace connwatch::active {
namespace {

using namespace std::chrono_literals;
using Delay = Backoff::Delay;

Backoff::Random seeded(unsigned seed) {
  auto engine = std::make_shared<std::mt19937_64>(seed);
  return [engine] { return std::uniform_real_distribution<double>(0.0, 1.0)(*engine); };
}

TEST(Backoff, FullJitterDrawsBetweenZeroAndTheCappedExponential) {
  Backoff backoff(100ms, 5s, config::Jitter::kFull, seeded(1));
  for (int n = 0; n < 8; ++n) {
    const auto bounds = backoff.bounds(n, Delay{0});
    const auto exponential = std::min<Delay>(Delay(100ms) * (1 << n), Delay(5s));
    EXPECT_EQ(bounds.low, Delay{0}) << n;
    EXPECT_EQ(bounds.high, exponential) << n;
  }
}

TEST(Backoff, EqualJitterKeepsAtLeastHalfTheExponential) {
  Backoff backoff(100ms, 5s, config::Jitter::kEqual, seeded(1));
  const auto bounds = backoff.bounds(2, Delay{0});
  EXPECT_EQ(bounds.low, Delay(200ms));
  EXPECT_EQ(bounds.high, Delay(400ms));
}

TEST(Backoff, NoJitterIsTheCappedExponentialExactly) {
  Backoff backoff(100ms, 1s, config::Jitter::kNone, seeded(1));
  EXPECT_EQ(backoff.next(), Delay(100ms));
  EXPECT_EQ(backoff.next(), Delay(200ms));
  EXPECT_EQ(backoff.next(), Delay(400ms));
  EXPECT_EQ(backoff.next(), Delay(800ms));
  EXPECT_EQ(backoff.next(), Delay(1s));
  backoff.reset();
  EXPECT_EQ(backoff.next(), Delay(100ms));
}

TEST(Backoff, EveryDrawOfEveryKindFallsInsideItsBounds) {
  for (const auto jitter : {config::Jitter::kNone, config::Jitter::kFull, config::Jitter::kEqual,
                            config::Jitter::kDecorrelated}) {
    Backoff backoff(50ms, 2s, jitter, seeded(42));
    Delay low_seen = Delay::max();
    Delay high_seen = Delay::zero();
    for (int probe = 0; probe < 2000; ++probe) {
      backoff.reset();
      Delay previous{0};
      for (int n = 0; n < 6; ++n) {
        const auto bounds = backoff.bounds(n, previous);
        const auto delay = backoff.next();
        ASSERT_GE(delay, bounds.low) << static_cast<int>(jitter) << " retry " << n;
        ASSERT_LE(delay, bounds.high) << static_cast<int>(jitter) << " retry " << n;
        ASSERT_LE(delay, Delay(2s));
        if (n == 3) {
          low_seen = std::min(low_seen, delay);
          high_seen = std::max(high_seen, delay);
        }
        previous = delay;
      }
    }
    if (jitter == config::Jitter::kFull) {  // the draws spread over the whole range
      EXPECT_LT(low_seen, Delay(40ms));
      EXPECT_GT(high_seen, Delay(360ms));
    }
  }
}

TEST(RetryBudget, BoundsRetriesToTheRatioOfProbesPlusTheBucket) {
  RetryBudget budget(0.2);
  int retries = 0;
  for (int probe = 0; probe < 1000; ++probe) {
    budget.on_probe();
    while (budget.try_acquire_retry()) ++retries;  // a target that always fails
  }
  EXPECT_LE(retries, static_cast<int>(0.2 * 1000 + RetryBudget::kDefaultMaxTokens));
  EXPECT_GE(retries, static_cast<int>(0.2 * 1000) - 1);
}

TEST(RetryBudget, ZeroRatioAllowsOnlyTheInitialBucket) {
  RetryBudget budget(0.0, 0.0);
  budget.on_probe();
  EXPECT_FALSE(budget.try_acquire_retry());
}

TEST(HttpDate, ReadsTheThreeFormatsAsTheSameInstant) {
  const auto expected = std::chrono::system_clock::from_time_t(784111777);  // 1994-11-06 08:49:37
  EXPECT_EQ(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), expected);
  EXPECT_EQ(parse_http_date(" Sunday, 06-Nov-94 08:49:37 GMT "), expected);
  EXPECT_EQ(parse_http_date("Sun Nov  6 08:49:37 1994"), expected);
  EXPECT_EQ(parse_http_date("3600"), std::nullopt) << "delay-seconds is Retry-After's, not a date";
  EXPECT_EQ(parse_http_date("Sun, 06 Nov 1994 08:49:37 UTC"), std::nullopt);
  EXPECT_EQ(parse_http_date(""), std::nullopt);
  // Past system_clock's range (April 2262): refused, not overflowed.
  EXPECT_EQ(parse_http_date("Fri, 31 Dec 9999 23:59:59 GMT"), std::nullopt);
  EXPECT_NE(parse_http_date("Fri, 31 Dec 2261 23:59:59 GMT"), std::nullopt);
}

TEST(RetryAfter, ReadsSecondsAndHttpDates) {
  const auto now = std::chrono::system_clock::from_time_t(784111777);  // 06 Nov 1994 08:49:37
  EXPECT_EQ(parse_retry_after("120", now), std::chrono::milliseconds(120000));
  EXPECT_EQ(parse_retry_after(" 0 ", now), std::chrono::milliseconds(0));
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now),
            std::chrono::milliseconds(10000));
  EXPECT_EQ(parse_retry_after("Sunday, 06-Nov-94 08:49:47 GMT", now),
            std::chrono::milliseconds(10000));
  EXPECT_EQ(parse_retry_after("Sun Nov  6 08:49:47 1994", now), std::chrono::milliseconds(10000));
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now), std::chrono::milliseconds(0));
  EXPECT_EQ(parse_retry_after("soon", now), std::nullopt);
  EXPECT_EQ(parse_retry_after("-5", now), std::nullopt);
  EXPECT_EQ(parse_retry_after("", now), std::nullopt);
}

TEST(KeepAlive, ReadsTheTimeoutParameter) {
  EXPECT_EQ(parse_keep_alive_timeout("timeout=5, max=100"), std::chrono::seconds(5));
  EXPECT_EQ(parse_keep_alive_timeout("max=100, Timeout = \"4\""), std::chrono::seconds(4));
  EXPECT_EQ(parse_keep_alive_timeout("max=100"), std::nullopt);
  EXPECT_EQ(parse_keep_alive_timeout("timeout=abc"), std::nullopt);
}

TEST(KeepAlive, CapsTheIdleTimeoutOneSecondBelowTheServers) {
  EXPECT_EQ(cap_idle_timeout(30s, std::chrono::seconds(5)), 4s);
  EXPECT_EQ(cap_idle_timeout(2s, std::chrono::seconds(5)), 2s);
  EXPECT_EQ(cap_idle_timeout(30s, std::nullopt), 30s);
  EXPECT_EQ(cap_idle_timeout(30s, std::chrono::seconds(1)), 0s);
}

}  // namespace
}  // namespace connwatch::active
