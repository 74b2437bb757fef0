#include "config/units.h"

#include <gtest/gtest.h>

namespace connwatch::config {
namespace {

using namespace std::chrono_literals;

TEST(ParseDuration, AcceptsPrometheusStyleUnits) {
  EXPECT_EQ(parse_duration("250ms"), 250ms);
  EXPECT_EQ(parse_duration("5s"), 5s);
  EXPECT_EQ(parse_duration("2m"), 2min);
  EXPECT_EQ(parse_duration("1h"), 1h);
  EXPECT_EQ(parse_duration("1d"), 24h);
  EXPECT_EQ(parse_duration("1w"), 7 * 24h);
  EXPECT_EQ(parse_duration("1y"), 365 * 24h);
  EXPECT_EQ(parse_duration("0"), 0ms);
  EXPECT_EQ(parse_duration("0s"), 0ms);
}

TEST(ParseDuration, AcceptsCompoundsLargestUnitFirst) {
  EXPECT_EQ(parse_duration("1h30m"), 90min);
  EXPECT_EQ(parse_duration("1m30s500ms"), 90500ms);
  EXPECT_EQ(parse_duration("30s1m"), std::nullopt);
  EXPECT_EQ(parse_duration("1s1s"), std::nullopt);
}

TEST(ParseDuration, RejectsWhatPrometheusRejects) {
  for (const char* bad : {"", "5", "s", "5 s", "-5s", "5sec", "1.5s", "5S", "ms", "5s ",
                          "99999999999999999999s", "9223372036854775807y"}) {
    EXPECT_EQ(parse_duration(bad), std::nullopt) << bad;
  }
}

TEST(FormatDuration, WritesTheShortestSpellingThatParsesBack) {
  EXPECT_EQ(format_duration(90s), "1m30s");
  EXPECT_EQ(format_duration(250ms), "250ms");
  EXPECT_EQ(format_duration(0ms), "0s");
  EXPECT_EQ(format_duration(25h), "1d1h");
  for (const auto d : {1ms, 1001ms, 3600001ms}) {
    EXPECT_EQ(parse_duration(format_duration(d)), d);
  }
}

TEST(ParseSize, AcceptsBinaryAndDecimalUnits) {
  EXPECT_EQ(parse_size("32MiB"), 32U << 20);
  EXPECT_EQ(parse_size("512KiB"), 512U << 10);
  EXPECT_EQ(parse_size("1GiB"), 1U << 30);
  EXPECT_EQ(parse_size("10MB"), 10'000'000U);
  EXPECT_EQ(parse_size("1000"), 1000U);
  EXPECT_EQ(parse_size("1000B"), 1000U);
}

TEST(ParseSize, RejectsUnknownUnitsAndOverflow) {
  for (const char* bad : {"", "MiB", "32 MiB", "32mib", "1.5GiB", "-1", "99999999999GiB"}) {
    EXPECT_EQ(parse_size(bad), std::nullopt) << bad;
  }
}

}  // namespace
}  // namespace connwatch::config
