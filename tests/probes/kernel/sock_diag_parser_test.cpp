#include "probes/kernel/sock_diag_parser.h"

#include <gtest/gtest.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <set>
#include <vector>

#include "probes/kernel/sock_diag_error.h"
#include "tests/probes/kernel/testdata.h"

namespace connwatch::kernel {
namespace {

using testing::read_testdata;

struct Recorder final : SocketVisitor {
  void on_socket(const SocketRecord& s) override { sockets.push_back(s); }
  std::size_t count(TcpState state) const {
    std::size_t n = 0;
    for (const auto& s : sockets) n += s.state == state ? 1 : 0;
    return n;
  }
  std::map<std::string, std::size_t> time_wait_by_destination() const {
    std::map<std::string, std::size_t> out;
    for (const auto& s : sockets) {
      if (s.state == TcpState::kTimeWait) ++out[s.remote.to_string()];
    }
    return out;
  }
  std::vector<SocketRecord> sockets;
};

// Offsets of each netlink message in a capture.
std::vector<std::size_t> message_offsets(const std::vector<std::uint8_t>& bytes) {
  std::vector<std::size_t> out;
  std::size_t off = 0;
  while (off + 16 <= bytes.size()) {
    out.push_back(off);
    std::uint32_t len = 0;
    std::memcpy(&len, bytes.data() + off, 4);
    off += (len + 3U) & ~3U;
  }
  return out;
}

// The capture (testdata/capture_sock_diag.cpp's scenario): 500 + 7 client-first closes, three
// established pairs, one half-closed pair, one listener left.
TEST(SockDiagParser, CountsEveryStateOfTheCapturedIpv4Dump) {
  const auto bytes = read_testdata("sock_diag_v4.bin");
  ASSERT_FALSE(bytes.empty());
  Recorder r;
  const auto result = parse_sock_diag(bytes, r);
  ASSERT_FALSE(result.error) << result.error.message();
  EXPECT_TRUE(result.done);
  EXPECT_EQ(result.sockets, 516U);
  EXPECT_EQ(r.count(TcpState::kTimeWait), 507U);
  EXPECT_EQ(r.count(TcpState::kEstablished), 6U);
  EXPECT_EQ(r.count(TcpState::kListen), 1U);
  EXPECT_EQ(r.count(TcpState::kFinWait2), 1U);
  EXPECT_EQ(r.count(TcpState::kCloseWait), 1U);
}

TEST(SockDiagParser, ReadsTimeWaitDestinationsFromTheCapturedDump) {
  Recorder r;
  ASSERT_FALSE(parse_sock_diag(read_testdata("sock_diag_v4.bin"), r).error);
  EXPECT_EQ(r.time_wait_by_destination(),
            (std::map<std::string, std::size_t>{{"127.0.0.1:8080", 500}, {"127.0.0.2:9090", 7}}));
}

TEST(SockDiagParser, ReportsTimeWaitSocketsWithoutInodeAndWithTheirTimer) {
  Recorder r;
  ASSERT_FALSE(parse_sock_diag(read_testdata("sock_diag_v4.bin"), r).error);
  for (const auto& s : r.sockets) {
    if (s.state == TcpState::kTimeWait) {
      EXPECT_EQ(s.inode, 0U);
      EXPECT_EQ(s.timer, 3U);  // the TIME_WAIT timer
      EXPECT_LE(s.expires_ms, 60000U);
    } else {
      EXPECT_NE(s.inode, 0U) << to_string(s.state);
    }
  }
}

TEST(SockDiagParser, ReadsIpv6AddressesAndBracketsThemInDestinations) {
  Recorder r;
  const auto result = parse_sock_diag(read_testdata("sock_diag_v6.bin"), r);
  ASSERT_FALSE(result.error) << result.error.message();
  EXPECT_TRUE(result.done);
  EXPECT_EQ(r.count(TcpState::kListen), 1U);
  EXPECT_EQ(r.count(TcpState::kEstablished), 2U);
  EXPECT_EQ(r.time_wait_by_destination(), (std::map<std::string, std::size_t>{{"[::1]:8443", 2}}));
}

TEST(SockDiagParser, ParsesAMultiPartDumpFedOneDatagramAtATime) {
  const auto bytes = read_testdata("sock_diag_v4.bin");
  const auto offsets = message_offsets(bytes);
  ASSERT_GT(offsets.size(), 500U);
  // Split into slices of 100 messages, as separate recvmsg() calls would return them.
  Recorder r;
  std::size_t done_count = 0;
  for (std::size_t i = 0; i < offsets.size(); i += 100) {
    const std::size_t begin = offsets[i];
    const std::size_t end = i + 100 < offsets.size() ? offsets[i + 100] : bytes.size();
    const auto result = parse_sock_diag(std::span(bytes).subspan(begin, end - begin), r);
    ASSERT_FALSE(result.error) << result.error.message();
    done_count += result.done ? 1 : 0;
    EXPECT_EQ(result.done, end == bytes.size());
  }
  EXPECT_EQ(done_count, 1U);
  EXPECT_EQ(r.sockets.size(), 516U);
}

TEST(SockDiagParser, AsksForMoreWhenTheDumpHasNotEndedYet) {
  Recorder r;
  const auto result = parse_sock_diag(read_testdata("partial_no_done.bin"), r);
  EXPECT_FALSE(result.error);
  EXPECT_FALSE(result.done);
  EXPECT_EQ(result.sockets, 516U);
}

TEST(SockDiagParser, ReportsTruncationAtEveryCutInsideAMessage) {
  const auto bytes = read_testdata("sock_diag_v4.bin");
  const auto offsets = message_offsets(bytes);
  const std::set<std::size_t> boundaries(offsets.begin(), offsets.end());
  // Every cut in the first 3 KiB, and a stride through the rest.
  for (std::size_t cut = 0; cut < bytes.size(); cut += cut < 3072 ? 1 : 97) {
    Recorder r;
    const auto result = parse_sock_diag(std::span(bytes).first(cut), r);
    if (boundaries.count(cut) != 0) {
      EXPECT_FALSE(result.error) << "cut at message boundary " << cut;
      EXPECT_FALSE(result.done);
    } else {
      EXPECT_EQ(result.error, SockDiagError::kTruncated) << "cut at " << cut;
    }
  }
}

TEST(SockDiagParser, ReportsTheHandMadeTruncatedCopiesAsTruncated) {
  for (const char* name : {"broken_truncated_body.bin", "broken_truncated_header.bin"}) {
    Recorder r;
    const auto result = parse_sock_diag(read_testdata(name), r);
    EXPECT_EQ(result.error, SockDiagError::kTruncated) << name;
    EXPECT_FALSE(result.done) << name;
  }
}

TEST(SockDiagParser, ReportsALengthSmallerThanTheHeaderAsMalformed) {
  Recorder r;
  const auto result = parse_sock_diag(read_testdata("broken_length_too_small.bin"), r);
  EXPECT_EQ(result.error, SockDiagError::kMalformed);
  EXPECT_EQ(r.sockets.size(), 1U);  // the message before it was fine
}

TEST(SockDiagParser, ReportsALengthBeyondTheBytesAsTruncated) {
  Recorder r;
  const auto result = parse_sock_diag(read_testdata("broken_length_too_large.bin"), r);
  EXPECT_EQ(result.error, SockDiagError::kTruncated);
  EXPECT_TRUE(r.sockets.empty());
}

TEST(SockDiagParser, RejectsAnUnknownAddressFamily) {
  Recorder r;
  EXPECT_EQ(parse_sock_diag(read_testdata("broken_unknown_family.bin"), r).error,
            SockDiagError::kMalformed);
}

TEST(SockDiagParser, RejectsAPayloadShorterThanInetDiagMsg) {
  Recorder r;
  EXPECT_EQ(parse_sock_diag(read_testdata("broken_short_payload.bin"), r).error,
            SockDiagError::kMalformed);
}

TEST(SockDiagParser, RejectsMessageTypesThatAreNotPartOfADump) {
  Recorder r;
  EXPECT_EQ(parse_sock_diag(read_testdata("broken_unexpected_type.bin"), r).error,
            SockDiagError::kUnexpectedMessage);
}

TEST(SockDiagParser, ReturnsTheKernelsErrnoFromNlmsgError) {
  Recorder r;
  const auto result = parse_sock_diag(read_testdata("broken_error_eperm.bin"), r);
  EXPECT_EQ(result.error, std::error_code(EPERM, std::system_category()));
  EXPECT_FALSE(result.done);
}

TEST(SockDiagParser, ReturnsTheKernelsErrnoFromAFailedDone) {
  Recorder r;
  const auto result = parse_sock_diag(read_testdata("broken_done_failed.bin"), r);
  EXPECT_EQ(result.error, std::error_code(ENOBUFS, std::system_category()));
  EXPECT_EQ(r.sockets.size(), 2U);
}

TEST(SockDiagParser, IgnoresBytesAfterDone) {
  auto bytes = read_testdata("sock_diag_v6.bin");
  const auto more = read_testdata("broken_length_too_small.bin");
  bytes.insert(bytes.end(), more.begin(), more.end());
  Recorder r;
  const auto result = parse_sock_diag(bytes, r);
  EXPECT_FALSE(result.error);
  EXPECT_TRUE(result.done);
  EXPECT_EQ(result.sockets, 5U);
}

TEST(SockDiagParser, ParsesUnalignedInput) {
  const auto bytes = read_testdata("sock_diag_v4.bin");
  std::vector<std::uint8_t> shifted(bytes.size() + 1);
  std::memcpy(shifted.data() + 1, bytes.data(), bytes.size());
  Recorder r;
  const auto result = parse_sock_diag(std::span(shifted).subspan(1), r);
  EXPECT_FALSE(result.error);
  EXPECT_EQ(result.sockets, 516U);
}

TEST(SockDiagParser, FlagsAnInterruptedDump) {
  auto bytes = read_testdata("sock_diag_v6.bin");
  std::uint16_t flags = 0;
  std::memcpy(&flags, bytes.data() + 6, 2);
  flags |= NLM_F_DUMP_INTR;
  std::memcpy(bytes.data() + 6, &flags, 2);
  Recorder r;
  const auto result = parse_sock_diag(bytes, r);
  EXPECT_FALSE(result.error);
  EXPECT_TRUE(result.interrupted);
}

TEST(SockDiagParser, ParsesNothingFromNoBytes) {
  Recorder r;
  const auto result = parse_sock_diag({}, r);
  EXPECT_FALSE(result.error);
  EXPECT_FALSE(result.done);
  EXPECT_EQ(result.sockets, 0U);
}

TEST(SockDiagRequest, AsksForADumpOfTcpSocketsOfOneFamilyInTheGivenStates) {
  const auto req = build_sock_diag_request(IpFamily::kIpv6, state_mask({TcpState::kTimeWait}), 7);
  nlmsghdr h{};
  std::memcpy(&h, req.data(), sizeof(h));
  EXPECT_EQ(h.nlmsg_len, req.size());
  EXPECT_EQ(h.nlmsg_type, SOCK_DIAG_BY_FAMILY);
  EXPECT_EQ(h.nlmsg_flags, NLM_F_REQUEST | NLM_F_DUMP);
  EXPECT_EQ(h.nlmsg_seq, 7U);
  EXPECT_EQ(req[16], AF_INET6);     // sdiag_family
  EXPECT_EQ(req[17], IPPROTO_TCP);  // sdiag_protocol
  std::uint32_t states = 0;
  std::memcpy(&states, req.data() + 20, 4);
  EXPECT_EQ(states, 1U << 6);  // TCP_TIME_WAIT, as `ss state time-wait` asks
}

TEST(SockDiagRequest, AllStatesCoverTheElevenKernelStates) { EXPECT_EQ(all_states_mask(), 0xFFEU); }

}  // namespace
}  // namespace connwatch::kernel
