#include "probes/kernel/ephemeral_port_range.h"

#include <gtest/gtest.h>

#include "probes/kernel/proc_file.h"
#include "tests/probes/kernel/testdata.h"

namespace connwatch::kernel {
namespace {

TEST(EphemeralPortRange, DefaultsToTheKernelDefaultRange) {
  const EphemeralPortRange r;
  EXPECT_EQ(r.size(), 28232U);  // 32768-60999, ip-sysctl.rst
  EXPECT_EQ(r.usable(), 28232U);
}

TEST(EphemeralPortRange, ParsesTheCapturedSysctl) {
  EphemeralPortRange r;
  r.low = r.high = 1;
  ASSERT_FALSE(parse_ip_local_port_range(
      testing::read_testdata_text("proc/sys/net/ipv4/ip_local_port_range"), r));
  EXPECT_EQ(r.low, 32768);
  EXPECT_EQ(r.high, 60999);
}

TEST(EphemeralPortRange, AcceptsSpacesAndANarrowRange) {
  EphemeralPortRange r;
  ASSERT_FALSE(parse_ip_local_port_range("40000 40199\n", r));
  EXPECT_EQ(r.size(), 200U);
  EXPECT_TRUE(r.is_ephemeral(40000));
  EXPECT_TRUE(r.is_ephemeral(40199));
  EXPECT_FALSE(r.is_ephemeral(39999));
  EXPECT_FALSE(r.is_ephemeral(40200));
}

TEST(EphemeralPortRange, RejectsMalformedRanges) {
  EphemeralPortRange r;
  for (const char* text : {"", "32768", "32768 60999 1", "60999 32768", "1 70000", "a b", "-1 5"}) {
    EXPECT_EQ(parse_ip_local_port_range(text, r), ProcFileError::kMalformed) << text;
  }
  EXPECT_EQ(r.low, 32768);  // untouched on error
}

TEST(EphemeralPortRange, SubtractsReservedPortsInsideTheRangeOnly) {
  EphemeralPortRange r;
  ASSERT_FALSE(parse_ip_local_reserved_ports(
      testing::read_testdata_text("proc/sys/net/ipv4/ip_local_reserved_ports"), r));
  // "8080,40000-40099": 8080 lies below the range and does not count.
  EXPECT_TRUE(r.reserved.test(8080));
  EXPECT_EQ(r.reserved_in_range(), 100U);
  EXPECT_EQ(r.usable(), 28232U - 100U);
  EXPECT_FALSE(r.is_ephemeral(40050));
  EXPECT_TRUE(r.is_ephemeral(40100));
}

TEST(EphemeralPortRange, ReadsAnEmptyReservedListAsNone) {
  EphemeralPortRange r;
  r.reserved.set(40000);
  ASSERT_FALSE(parse_ip_local_reserved_ports("\n", r));
  EXPECT_EQ(r.reserved.count(), 0U);
}

TEST(EphemeralPortRange, RejectsMalformedReservedLists) {
  EphemeralPortRange r;
  for (const char* text : {"80,", "80-", "90-80", "70000", "8o", ",80"}) {
    EXPECT_EQ(parse_ip_local_reserved_ports(text, r), ProcFileError::kMalformed) << text;
  }
}

TEST(EphemeralPortRange, ReadsBothSysctlsFromAProcTree) {
  EphemeralPortRange r;
  ASSERT_FALSE(read_ephemeral_port_range(testing::testdata_dir() / "proc", r));
  EXPECT_EQ(r.usable(), 28132U);
}

TEST(EphemeralPortRange, FailsWithTheErrnoWhenTheRangeCannotBeRead) {
  EphemeralPortRange r;
  EXPECT_EQ(read_ephemeral_port_range("/nonexistent", r), std::errc::no_such_file_or_directory);
}

}  // namespace
}  // namespace connwatch::kernel
