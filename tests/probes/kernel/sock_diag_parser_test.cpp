#include "probes/kernel/sock_diag_parser.h"

#include <gtest/gtest.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
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

// The IPv4 dump again with INET_DIAG_INFO (capture_sock_diag.cpp): tcp_info rides with every full
// socket, none with the TIME_WAIT minisocks; 64 KiB went each way over the first established pair.
TEST(SockDiagParser, ReadsTcpInfoAndCookiesFromTheCapturedInfoDump) {
  Recorder r;
  const auto result = parse_sock_diag(read_testdata("sock_diag_v4_info.bin"), r);
  ASSERT_FALSE(result.error) << result.error.message();
  EXPECT_TRUE(result.done);
  EXPECT_EQ(r.count(TcpState::kTimeWait), 507U);
  EXPECT_EQ(r.count(TcpState::kEstablished), 6U);
  std::set<std::uint64_t> cookies;
  std::size_t with_rtt = 0;
  std::uint32_t most_sent = 0;
  for (const auto& s : r.sockets) {
    EXPECT_NE(s.cookie, 0U);
    cookies.insert(s.cookie);
    EXPECT_EQ(s.has_info, s.state != TcpState::kTimeWait) << to_string(s.state);
    if (s.state == TcpState::kEstablished && s.rtt_us > 0) ++with_rtt;
    if (s.has_info) {
      EXPECT_EQ(s.total_retrans, 0U);  // loopback loses nothing
    }
    most_sent = std::max(most_sent, s.segs_out);
  }
  EXPECT_EQ(cookies.size(), r.sockets.size());  // unique per socket
  EXPECT_EQ(with_rtt, 6U);
  EXPECT_GE(most_sent, 2U);  // the data exchange: at least one segment each way, plus handshake
}

// An attribute claiming more bytes than its message holds is malformed, not read past.
TEST(SockDiagParser, RejectsAnAttributeLongerThanItsMessage) {
  auto bytes = read_testdata("sock_diag_v4_info.bin");
  // The first message's first attribute starts right after nlmsghdr + inet_diag_msg.
  std::uint32_t len = 0;
  std::memcpy(&len, bytes.data(), 4);
  ASSERT_GT(len, 16U + 72U + 4U);
  const std::uint16_t too_long = static_cast<std::uint16_t>(len);
  std::memcpy(bytes.data() + 16 + 72, &too_long, 2);
  Recorder r;
  EXPECT_EQ(parse_sock_diag(bytes, r).error, SockDiagError::kMalformed);
}

// A tcp_info shorter than today's (an older kernel) gives what it covers and no more.
TEST(SockDiagParser, TakesFromAShortTcpInfoOnlyTheFieldsItCovers) {
  auto bytes = read_testdata("sock_diag_v4_info.bin");
  Recorder full;
  ASSERT_FALSE(parse_sock_diag(bytes, full).error);
  // Cut every INET_DIAG_INFO of the first message down to 104 bytes (Linux 3.x: up to
  // tcpi_total_retrans, before tcpi_segs_out) by rewriting rta_len; the bytes stay, padded.
  std::uint32_t len = 0;
  std::memcpy(&len, bytes.data(), 4);
  std::size_t at = 16 + 72;
  bool cut = false;
  while (at + 4 <= len) {
    std::uint16_t rta_len = 0, rta_type = 0;
    std::memcpy(&rta_len, bytes.data() + at, 2);
    std::memcpy(&rta_type, bytes.data() + at + 2, 2);
    if (rta_type == 2 && rta_len > 4 + 104) {
      const std::uint16_t shorter = 4 + 104;
      std::memcpy(bytes.data() + at, &shorter, 2);
      cut = true;
      // The rest of the old attribute now reads as padding-free garbage: blank it as NOP attrs.
      for (std::size_t i = at + shorter; i + 4 <= at + rta_len; i += 4) {
        const std::uint16_t nop_len = 4, nop_type = 0;
        std::memcpy(bytes.data() + i, &nop_len, 2);
        std::memcpy(bytes.data() + i + 2, &nop_type, 2);
      }
    }
    at += (rta_len + 3U) & ~3U;
  }
  ASSERT_TRUE(cut) << "the first socket carries no INET_DIAG_INFO";
  Recorder r;
  ASSERT_FALSE(parse_sock_diag(bytes, r).error);
  ASSERT_FALSE(r.sockets.empty());
  EXPECT_TRUE(r.sockets[0].has_info);
  EXPECT_EQ(r.sockets[0].rtt_us, full.sockets[0].rtt_us);
  EXPECT_EQ(r.sockets[0].segs_out, 0U);
}

TEST(SockDiagRequest, AsksForTcpInfoWhenTold) {
  const auto request =
      build_sock_diag_request(IpFamily::kIpv4, all_states_mask(), 1, kSockDiagInfoExtension);
  EXPECT_EQ(request[16 + 2], 1U << (INET_DIAG_INFO - 1));  // idiag_ext
  EXPECT_EQ(build_sock_diag_request(IpFamily::kIpv4, all_states_mask(), 1)[16 + 2], 0U);
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
