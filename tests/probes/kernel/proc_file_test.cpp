// status_field() on /proc/PID/status text: lines as fs/proc/array.c writes them, and this
// process's own file.
#include "probes/kernel/proc_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

namespace connwatch::kernel {
namespace {

// The head of a real /proc/PID/status of a thread in a container (Linux 6.1): a child pid
// namespace gives NSpid two columns.
constexpr std::string_view kStatus =
    "Name:\tcurl worker\n"
    "Umask:\t0022\n"
    "State:\tS (sleeping)\n"
    "Tgid:\t4120\n"
    "Ngid:\t0\n"
    "Pid:\t4133\n"
    "PPid:\t1\n"
    "NSpid:\t4133\t57\n";

TEST(StatusField, GivesTheTrimmedValueOfTheNamedLine) {
  EXPECT_EQ(status_field(kStatus, "Tgid"), "4120");
  EXPECT_EQ(status_field(kStatus, "Name"), "curl worker");
  EXPECT_EQ(status_field(kStatus, "NSpid"), "4133\t57");
  EXPECT_EQ(status_field(kStatus, "State"), "S (sleeping)");
}

TEST(StatusField, MatchesWholeNamesOnlyAndSaysWhenAbsent) {
  EXPECT_EQ(status_field(kStatus, "Pid"), "4133") << "not the end of Tgid, PPid or NSpid";
  EXPECT_EQ(status_field(kStatus, "Gid"), std::nullopt) << "not the end of Tgid or Ngid";
  EXPECT_EQ(status_field(kStatus, "CapEff"), std::nullopt);
  EXPECT_EQ(status_field("", "Tgid"), std::nullopt);
  EXPECT_EQ(status_field("Tgid:", "Tgid"), "");
  EXPECT_EQ(status_field("Tgid", "Tgid"), std::nullopt);
}

TEST(StatusField, ReadsThisProcessesOwnStatus) {
  std::string status;
  ASSERT_FALSE(read_proc_file("/proc/self/status", status));
  EXPECT_EQ(status_field(status, "Tgid"), std::to_string(::getpid()));
}

}  // namespace
}  // namespace connwatch::kernel
