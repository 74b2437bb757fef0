#include "tests/lab/duration.h"

#include <gtest/gtest.h>

namespace connwatch::lab {
namespace {

using std::chrono::milliseconds;

TEST(LabDuration, ParsesEachUnit) {
  EXPECT_EQ(parse_duration("250ms"), milliseconds(250));
  EXPECT_EQ(parse_duration("1s"), milliseconds(1000));
  EXPECT_EQ(parse_duration("2m"), milliseconds(120'000));
  EXPECT_EQ(parse_duration("1h"), milliseconds(3'600'000));
  EXPECT_EQ(parse_duration("0s"), milliseconds(0));
}

TEST(LabDuration, RejectsMissingOrUnknownUnitsAndSigns) {
  for (const char* bad : {"", "1", "s", "1.5s", "-1s", "1 s", "1sec", "10us", "ms"}) {
    EXPECT_FALSE(parse_duration(bad).has_value()) << bad;
  }
}

TEST(LabDuration, RejectsValuesThatWouldOverflow) {
  EXPECT_FALSE(parse_duration("99999999999999999999h").has_value());
  EXPECT_FALSE(parse_duration("2000000000ms").has_value());
}

}  // namespace
}  // namespace connwatch::lab
