#include "probes/kernel/tcp_event_counter.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "probes/kernel/proc_file.h"
#include "tests/probes/kernel/testdata.h"

namespace connwatch::kernel {
namespace {

using testing::read_testdata_text;

std::uint64_t value(const TcpEventCounts& c, TcpEventCounter which) {
  return c[index_of(which)].value_or(~std::uint64_t{0});
}

TEST(TcpEventCounter, LabelValuesAreTheKernelFieldNamesOfSpec) {
  std::set<std::string> names;
  for (const auto c : kAllTcpEventCounters) names.insert(std::string(to_string(c)));
  EXPECT_EQ(names,
            (std::set<std::string>{"OutRsts", "EstabResets", "AttemptFails", "TCPAbortOnData",
                                   "TCPAbortOnClose", "TCPAbortOnTimeout", "TCPAbortOnLinger",
                                   "TCPAbortOnMemory", "ListenOverflows", "ListenDrops",
                                   "TCPTimeWaitOverflow", "TWRecycled", "OutSegs", "RetransSegs",
                                   "TCPSynRetrans", "TCPTimeouts", "TCPLostRetransmit"}));
}

TEST(TcpEventCounter, ReadsTheTcpCountersOfTheCapturedSnmp) {
  TcpEventCounts c{};
  ASSERT_FALSE(parse_proc_net_snmp(read_testdata_text("proc/net/snmp"), c));
  EXPECT_EQ(value(c, TcpEventCounter::kOutRsts), 11U);
  EXPECT_EQ(value(c, TcpEventCounter::kAttemptFails), 9U);
  EXPECT_EQ(value(c, TcpEventCounter::kEstabResets), 0U);
  EXPECT_FALSE(c[index_of(TcpEventCounter::kListenDrops)]);  // a netstat field, not read here
}

TEST(TcpEventCounter, ReadsTheTcpExtCountersOfTheCapturedNetstat) {
  TcpEventCounts c{};
  ASSERT_FALSE(parse_proc_net_netstat(read_testdata_text("proc/net/netstat"), c));
  EXPECT_EQ(value(c, TcpEventCounter::kTcpAbortOnData), 1U);
  EXPECT_EQ(value(c, TcpEventCounter::kListenOverflows), 0U);
  EXPECT_FALSE(c[index_of(TcpEventCounter::kOutRsts)]);
}

// The numbered copies keep the kernel's header lines and put each column's position in the value,
// so a counter read from the wrong column shows.
TEST(TcpEventCounter, TakesEachValueFromItsOwnColumn) {
  TcpEventCounts c{};
  ASSERT_FALSE(parse_proc_net_snmp(read_testdata_text("snmp_numbered.txt"), c));
  ASSERT_FALSE(parse_proc_net_netstat(read_testdata_text("netstat_numbered.txt"), c));
  EXPECT_EQ(value(c, TcpEventCounter::kAttemptFails), 2007U);
  EXPECT_EQ(value(c, TcpEventCounter::kEstabResets), 2008U);
  EXPECT_EQ(value(c, TcpEventCounter::kOutRsts), 2014U);
  EXPECT_EQ(value(c, TcpEventCounter::kListenOverflows), 1023U);
  EXPECT_EQ(value(c, TcpEventCounter::kListenDrops), 1024U);
  EXPECT_EQ(value(c, TcpEventCounter::kTcpAbortOnData), 1055U);
  EXPECT_EQ(value(c, TcpEventCounter::kTcpAbortOnClose), 1056U);
  EXPECT_EQ(value(c, TcpEventCounter::kTcpAbortOnMemory), 1057U);
  EXPECT_EQ(value(c, TcpEventCounter::kTcpAbortOnTimeout), 1058U);
  EXPECT_EQ(value(c, TcpEventCounter::kTcpAbortOnLinger), 1059U);
  EXPECT_EQ(value(c, TcpEventCounter::kTcpTimeWaitOverflow), 1078U);
  // Issue 23: the loss counters, from the same two files.
  EXPECT_EQ(value(c, TcpEventCounter::kOutSegs), 2011U);
  EXPECT_EQ(value(c, TcpEventCounter::kRetransSegs), 2012U);
  EXPECT_EQ(value(c, TcpEventCounter::kTcpSynRetrans), 1101U);
  EXPECT_EQ(value(c, TcpEventCounter::kTcpTimeouts), 1044U);
  EXPECT_EQ(value(c, TcpEventCounter::kTcpLostRetransmit), 1038U);
  EXPECT_EQ(value(c, TcpEventCounter::kTwRecycled), 1012U);
}

TEST(TcpEventCounter, LeavesCountersThisKernelLacksUnset) {
  TcpEventCounts c{};
  ASSERT_FALSE(parse_proc_net_netstat("TcpExt: ListenDrops\nTcpExt: 4\n", c));
  EXPECT_EQ(value(c, TcpEventCounter::kListenDrops), 4U);
  EXPECT_FALSE(c[index_of(TcpEventCounter::kTcpTimeWaitOverflow)]);
}

TEST(TcpEventCounter, ReportsAMissingSection) {
  TcpEventCounts c{};
  EXPECT_EQ(parse_proc_net_snmp("Udp: InDatagrams\nUdp: 1\n", c), ProcFileError::kMissingField);
  EXPECT_EQ(parse_proc_net_snmp("", c), ProcFileError::kMissingField);
}

TEST(TcpEventCounter, RejectsMismatchedLinePairs) {
  TcpEventCounts c{};
  for (const char* text : {
           "Tcp: OutRsts EstabResets\nTcp: 1\n",  // fewer values than names
           "Tcp: OutRsts\n",                      // no value line
           "Tcp: OutRsts\nUdp: 1\n",              // the pair's prefixes differ
           "Tcp: OutRsts\nTcp: x\n",              // a wanted value that is not a number
           "Tcp: OutRsts\nTcp: -1\n",             // counters are never negative
           "Tcp OutRsts\nTcp 1\n",                // no colon
       }) {
    EXPECT_EQ(parse_proc_net_snmp(text, c), ProcFileError::kMalformed) << text;
  }
  EXPECT_FALSE(c[index_of(TcpEventCounter::kOutRsts)]);  // untouched on error
}

TEST(TcpEventCounter, IgnoresNegativeValuesInFieldsItDoesNotRead) {
  TcpEventCounts c{};
  ASSERT_FALSE(parse_proc_net_snmp("Tcp: MaxConn OutRsts\nTcp: -1 5\n", c));
  EXPECT_EQ(value(c, TcpEventCounter::kOutRsts), 5U);
}

}  // namespace
}  // namespace connwatch::kernel
