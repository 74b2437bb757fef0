#include "probes/kernel/conntrack_usage.h"

#include <gtest/gtest.h>

#include "probes/kernel/proc_file.h"
#include "tests/probes/kernel/testdata.h"

namespace connwatch::kernel {
namespace {

TEST(ConntrackUsage, ReadsCountAndMaxFromAProcTree) {
  std::optional<ConntrackUsage> u;
  ASSERT_FALSE(read_conntrack_usage(testing::testdata_dir() / "proc", u));
  ASSERT_TRUE(u);
  EXPECT_EQ(u->entries, 0U);
  EXPECT_EQ(u->limit, 262144U);
}

TEST(ConntrackUsage, IsAbsentWithoutErrorWhereNfConntrackIsNotLoaded) {
  std::optional<ConntrackUsage> u = ConntrackUsage{1, 2};
  EXPECT_FALSE(read_conntrack_usage(testing::testdata_dir() / "no-such-proc", u));
  EXPECT_FALSE(u);
}

TEST(ConntrackUsage, RejectsANonNumber) {
  std::uint64_t v = 0;
  EXPECT_FALSE(parse_sysctl_number("42\n", v));
  EXPECT_EQ(v, 42U);
  EXPECT_EQ(parse_sysctl_number("", v), ProcFileError::kMalformed);
  EXPECT_EQ(parse_sysctl_number("4 2", v), ProcFileError::kMalformed);
  EXPECT_EQ(parse_sysctl_number("-3", v), ProcFileError::kMalformed);
}

}  // namespace
}  // namespace connwatch::kernel
