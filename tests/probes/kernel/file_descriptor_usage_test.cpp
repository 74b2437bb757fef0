#include "probes/kernel/file_descriptor_usage.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <vector>

#include "probes/kernel/proc_file.h"
#include "tests/probes/kernel/testdata.h"

namespace connwatch::kernel {
namespace {

TEST(FileDescriptorUsage, ParsesTheCapturedFileNr) {
  FileDescriptorUsage u;
  ASSERT_FALSE(parse_file_nr(testing::read_testdata_text("proc/sys/fs/file-nr"), u));
  EXPECT_EQ(u.allocated, 981U);
  EXPECT_EQ(u.maximum, 2466193U);
}

TEST(FileDescriptorUsage, ParsesAnUnlimitedFileMax) {
  // systemd sets fs.file-max to LONG_MAX.
  FileDescriptorUsage u;
  ASSERT_FALSE(parse_file_nr("2272\t0\t9223372036854775807\n", u));
  EXPECT_EQ(u.maximum, 9223372036854775807ULL);
}

TEST(FileDescriptorUsage, RejectsMalformedFileNr) {
  FileDescriptorUsage u;
  for (const char* text : {"", "1 0", "1 0 2 3", "a 0 2", "1 0 99999999999999999999", "1\n0\n2"}) {
    EXPECT_EQ(parse_file_nr(text, u), ProcFileError::kMalformed) << text;
  }
}

TEST(FileDescriptorUsage, ReadsTheSystemWideNumbersOfThisHost) {
  FileDescriptorUsage u;
  ASSERT_FALSE(read_file_nr("/proc", u));
  EXPECT_GT(u.allocated, 0U);
  EXPECT_GE(u.maximum, u.allocated);
}

TEST(ProcessFileDescriptors, CountsEveryFdThisProcessOpens) {
  ProcessFileDescriptors before;
  ASSERT_FALSE(read_process_file_descriptors("/proc", before));
  std::vector<int> fds;
  for (int i = 0; i < 5; ++i) fds.push_back(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  ProcessFileDescriptors after;
  ASSERT_FALSE(read_process_file_descriptors("/proc", after));
  for (const int fd : fds) ::close(fd);
  EXPECT_EQ(after.open, before.open + 5);
  EXPECT_GT(after.limit, 0U);
}

}  // namespace
}  // namespace connwatch::kernel
