#include "probes/passive/flow_tracker.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "tests/probes/passive/packet_builder.h"

namespace connwatch::passive {
namespace {

using namespace std::chrono_literals;
using tcp_flags::kAck;
using tcp_flags::kFin;
using tcp_flags::kRst;
using tcp_flags::kSyn;
using testing::segment;

constexpr const char* kClient = "10.0.0.1";
constexpr const char* kServer = "10.0.0.2";
constexpr std::uint16_t kClientPort = 45000;
constexpr std::uint16_t kServerPort = 443;
constexpr std::uint32_t kClientIsn = 1000;
constexpr std::uint32_t kServerIsn = 5000;

// One connection between kClient:kClientPort and kServer:kServerPort, with a clock that moves
// 1 ms per segment so nothing looks like a duplicate unless a test says so.
class Connection {
 public:
  explicit Connection(FlowTracker& tracker, std::uint16_t client_port = kClientPort,
                      std::uint16_t server_port = kServerPort)
      : tracker_(tracker), client_port_(client_port), server_port_(server_port) {}

  Observation from_client(std::uint8_t flags, std::uint32_t seq, std::uint32_t ack = 0,
                          std::uint8_t ttl = 64, std::uint32_t payload = 0) {
    return send(segment(kClient, client_port_, kServer, server_port_, flags, seq, ack, ttl,
                        ++ip_id_, payload));
  }
  Observation from_server(std::uint8_t flags, std::uint32_t seq, std::uint32_t ack = 0,
                          std::uint8_t ttl = 64, std::uint32_t payload = 0) {
    return send(segment(kServer, server_port_, kClient, client_port_, flags, seq, ack, ttl,
                        ++ip_id_, payload));
  }
  Observation send(const TcpSegment& s) {
    now_ += 1ms;
    return tracker_.observe(s, now_);
  }
  void handshake() {
    from_client(kSyn, kClientIsn);
    from_server(kSyn | kAck, kServerIsn, kClientIsn + 1);
  }
  PacketTime& now() { return now_; }

 private:
  FlowTracker& tracker_;
  std::uint16_t client_port_;
  std::uint16_t server_port_;
  std::uint32_t ip_id_ = 0;
  PacketTime now_ = std::chrono::seconds(1700000000);
};

bool no_time_wait(const Observation& o) { return !o.time_wait[0] && !o.time_wait[1]; }

TEST(FlowTracker, CountsAHandshakeOnceWhenTheSynAckArrives) {
  FlowTracker tracker({});
  Connection c(tracker);
  EXPECT_FALSE(c.from_client(kSyn, kClientIsn).connection_opened);
  EXPECT_TRUE(c.from_server(kSyn | kAck, kServerIsn, kClientIsn + 1).connection_opened);
  c.now() += 1s;  // a retransmitted SYN-ACK is the same connection
  EXPECT_FALSE(c.from_server(kSyn | kAck, kServerIsn, kClientIsn + 1).connection_opened);
}

TEST(FlowTracker, ClassifiesTheRstAnsweringASynAsRefusedByTheServer) {
  FlowTracker tracker({});
  Connection c(tracker);
  c.from_client(kSyn, kClientIsn);
  const Observation o = c.from_server(kRst | kAck, 0, kClientIsn + 1);
  ASSERT_TRUE(o.reset);
  EXPECT_EQ(o.reset->sender, ResetSender::kServer);
  EXPECT_EQ(o.reset->phase, ResetPhase::kHandshake);
  EXPECT_EQ(o.close, CloseHow::kReset);
  EXPECT_FALSE(o.connection_opened);
  EXPECT_EQ(o.port.to_string(), "443");
}

TEST(FlowTracker, ClassifiesARefusalWhoseSynWasNotCapturedByItsZeroSequence) {
  FlowTracker tracker({});
  // RFC 9293: the RST answering a segment without ACK (a SYN) has seq 0 and ACK set.
  const Observation o = tracker.observe(
      segment(kServer, 8081, kClient, 8080, kRst | kAck, 0, kClientIsn + 1), PacketTime(1s));
  ASSERT_TRUE(o.reset);
  EXPECT_EQ(o.reset->phase, ResetPhase::kHandshake);
  EXPECT_EQ(o.reset->sender, ResetSender::kServer);  // though 8080 < 8081 says otherwise
}

TEST(FlowTracker, ClassifiesAClientAbortDuringTheHandshake) {
  FlowTracker tracker({});
  Connection c(tracker);
  c.from_client(kSyn, kClientIsn);
  const Observation o = c.from_client(kRst, kClientIsn + 1);
  ASSERT_TRUE(o.reset);
  EXPECT_EQ(o.reset->sender, ResetSender::kClient);
  EXPECT_EQ(o.reset->phase, ResetPhase::kHandshake);
}

TEST(FlowTracker, ClassifiesAServerResetOfAnEstablishedConnection) {
  FlowTracker tracker({});
  Connection c(tracker);
  c.handshake();
  const Observation o = c.from_server(kRst | kAck, kServerIsn + 1, kClientIsn + 1);
  ASSERT_TRUE(o.reset);
  EXPECT_EQ(o.reset->sender, ResetSender::kServer);
  EXPECT_EQ(o.reset->phase, ResetPhase::kEstablished);
  EXPECT_EQ(o.close, CloseHow::kReset);
}

TEST(FlowTracker, ClassifiesAClientResetOfAnEstablishedConnection) {
  FlowTracker tracker({});
  Connection c(tracker);
  c.handshake();
  const Observation o = c.from_client(kRst | kAck, kClientIsn + 1, kServerIsn + 1);
  ASSERT_TRUE(o.reset);
  EXPECT_EQ(o.reset->sender, ResetSender::kClient);
  EXPECT_EQ(o.reset->phase, ResetPhase::kEstablished);
}

TEST(FlowTracker, GuessesRolesFromPortsWhenTheHandshakeWasNotSeen) {
  FlowTracker tracker({});
  Connection c(tracker);
  const Observation o = c.from_server(kRst | kAck, 777777, 888888);
  ASSERT_TRUE(o.reset);
  EXPECT_EQ(o.reset->sender, ResetSender::kServer);  // 443 is well known, 45000 is not
  EXPECT_EQ(o.reset->phase, ResetPhase::kEstablished);
}

TEST(FlowTracker, PrefersAListedPortOverALowerPortWhenGuessingTheServer) {
  FlowTrackerOptions options;
  options.ports = {9000};
  FlowTracker tracker(options);
  // 9000 is listed, 8000 is lower: the listed one is the server.
  const Observation o = tracker.observe(
      segment("10.0.0.1", 8000, "10.0.0.2", 9000, kRst | kAck, 5, 6), PacketTime(1s));
  ASSERT_TRUE(o.reset);
  EXPECT_EQ(o.reset->sender, ResetSender::kClient);
  EXPECT_EQ(o.port.to_string(), "9000");
}

TEST(FlowTracker, CallsTheSenderUnknownWhenPortsCannotTellTheRoles) {
  FlowTracker tracker({});
  const Observation o = tracker.observe(
      segment("10.0.0.1", 5000, "10.0.0.2", 5000, kRst | kAck, 5, 6), PacketTime(1s));
  ASSERT_TRUE(o.reset);
  EXPECT_EQ(o.reset->sender, ResetSender::kUnknown);
}

TEST(FlowTracker, ClassifiesAnyRstAfterAFinAsClosing) {
  {
    FlowTracker tracker({});
    Connection c(tracker);
    c.handshake();
    c.from_server(kFin | kAck, kServerIsn + 1, kClientIsn + 1);  // the server closed idle
    const Observation o = c.from_server(kRst, kServerIsn + 2);   // the client wrote anyway
    ASSERT_TRUE(o.reset);
    EXPECT_EQ(o.reset->sender, ResetSender::kServer);
    EXPECT_EQ(o.reset->phase, ResetPhase::kClosing);
    EXPECT_EQ(o.close, CloseHow::kReset);
    EXPECT_TRUE(no_time_wait(o));
  }
  {
    FlowTracker tracker({});
    Connection c(tracker);
    c.handshake();
    c.from_client(kFin | kAck, kClientIsn + 1, kServerIsn + 1);
    const Observation o = c.from_client(kRst | kAck, kClientIsn + 2, kServerIsn + 1);
    ASSERT_TRUE(o.reset);
    EXPECT_EQ(o.reset->sender, ResetSender::kClient);
    EXPECT_EQ(o.reset->phase, ResetPhase::kClosing);
  }
}

TEST(FlowTracker, CountsOneResetPerConnection) {
  FlowTracker tracker({});
  Connection c(tracker);
  c.handshake();
  EXPECT_TRUE(c.from_server(kRst, kServerIsn + 1).reset);
  EXPECT_FALSE(c.from_server(kRst, kServerIsn + 1 + 1448).reset);
  EXPECT_FALSE(c.from_client(kRst | kAck, kClientIsn + 1, kServerIsn + 1).reset);
}

TEST(FlowTracker, EntersTimeWaitOnTheClientWhenTheClientClosesFirst) {
  FlowTracker tracker({});
  Connection c(tracker);
  c.handshake();
  EXPECT_FALSE(c.from_client(kFin | kAck, kClientIsn + 1, kServerIsn + 1).close);
  const Observation o = c.from_server(kFin | kAck, kServerIsn + 1, kClientIsn + 2);
  EXPECT_TRUE(o.time_wait[index_of(TimeWaitSide::kClient)]);
  EXPECT_FALSE(o.time_wait[index_of(TimeWaitSide::kServer)]);
  EXPECT_EQ(o.close, CloseHow::kFin);
  EXPECT_EQ(o.port.to_string(), "443");
}

TEST(FlowTracker, EntersTimeWaitOnTheServerWhenTheServerClosesFirst) {
  FlowTracker tracker({});
  Connection c(tracker);
  c.handshake();
  c.from_server(kFin | kAck, kServerIsn + 1, kClientIsn + 1);
  const Observation o = c.from_client(kFin | kAck, kClientIsn + 1, kServerIsn + 2);
  EXPECT_FALSE(o.time_wait[index_of(TimeWaitSide::kClient)]);
  EXPECT_TRUE(o.time_wait[index_of(TimeWaitSide::kServer)]);
}

TEST(FlowTracker, CountsTheFirstFinAfterItsDataWhenMatchingTheAck) {
  FlowTracker tracker({});
  Connection c(tracker);
  c.handshake();
  // The server's FIN carries 300 bytes of response: the FIN is sequence number +301.
  c.from_server(kFin | kAck | tcp_flags::kPsh, kServerIsn + 1, kClientIsn + 80, 64, 300);
  const Observation o = c.from_client(kFin | kAck, kClientIsn + 80, kServerIsn + 1 + 300 + 1);
  EXPECT_TRUE(o.time_wait[index_of(TimeWaitSide::kServer)]);
  EXPECT_FALSE(o.time_wait[index_of(TimeWaitSide::kClient)]);
}

TEST(FlowTracker, EntersTimeWaitOnBothSidesWhenTheFinsCross) {
  FlowTracker tracker({});
  Connection c(tracker);
  c.handshake();
  c.from_client(kFin | kAck, kClientIsn + 1, kServerIsn + 1);
  // The server's FIN left before the client's arrived: it acknowledges data, not the FIN.
  const Observation o = c.from_server(kFin | kAck, kServerIsn + 1, kClientIsn + 1);
  EXPECT_TRUE(o.time_wait[index_of(TimeWaitSide::kClient)]);
  EXPECT_TRUE(o.time_wait[index_of(TimeWaitSide::kServer)]);
  EXPECT_EQ(o.close, CloseHow::kFin);
}

TEST(FlowTracker, KeepsTimeWaitWhenARstFollowsTheFinExchange) {
  FlowTracker tracker({});
  Connection c(tracker);
  c.handshake();
  c.from_client(kFin | kAck, kClientIsn + 1, kServerIsn + 1);
  const Observation fin = c.from_server(kFin | kAck, kServerIsn + 1, kClientIsn + 2);
  ASSERT_TRUE(fin.time_wait[index_of(TimeWaitSide::kClient)]);
  const Observation rst = c.from_client(kRst, kClientIsn + 2);
  ASSERT_TRUE(rst.reset);
  EXPECT_EQ(rst.reset->phase, ResetPhase::kClosing);
  EXPECT_FALSE(rst.close);  // already closed by FIN; the TIME_WAIT entry stands
  EXPECT_TRUE(no_time_wait(rst));
}

TEST(FlowTracker, CountsNoTimeWaitWhenARstClosedTheConnection) {
  FlowTracker tracker({});
  Connection c(tracker);
  c.handshake();
  c.from_client(kFin | kAck, kClientIsn + 1, kServerIsn + 1);
  c.from_server(kRst | kAck, kServerIsn + 1, kClientIsn + 2);
  const Observation late_fin = c.from_server(kFin | kAck, kServerIsn + 1, kClientIsn + 2);
  EXPECT_TRUE(no_time_wait(late_fin));
  EXPECT_FALSE(late_fin.close);
}

TEST(FlowTracker, IgnoresRetransmittedFins) {
  FlowTracker tracker({});
  Connection c(tracker);
  c.handshake();
  c.from_client(kFin | kAck, kClientIsn + 1, kServerIsn + 1);
  c.now() += 200ms;
  EXPECT_TRUE(no_time_wait(c.from_client(kFin | kAck, kClientIsn + 1, kServerIsn + 1)));
  EXPECT_TRUE(c.from_server(kFin | kAck, kServerIsn + 1, kClientIsn + 2).time_wait[0]);
  c.now() += 200ms;
  const Observation again = c.from_server(kFin | kAck, kServerIsn + 1, kClientIsn + 2);
  EXPECT_TRUE(no_time_wait(again));
  EXPECT_FALSE(again.close);
}

TEST(FlowTracker, StartsANewConnectionWhenASynReusesAClosedTuple) {
  FlowTracker tracker({});
  Connection c(tracker);
  c.handshake();
  c.from_client(kFin | kAck, kClientIsn + 1, kServerIsn + 1);
  c.from_server(kFin | kAck, kServerIsn + 1, kClientIsn + 2);
  c.from_client(kSyn, kClientIsn + 100000);
  EXPECT_TRUE(c.from_server(kSyn | kAck, 9000, kClientIsn + 100001).connection_opened);
  const Observation o = c.from_server(kRst | kAck, 9001, kClientIsn + 100001);
  ASSERT_TRUE(o.reset);
  EXPECT_EQ(o.reset->phase, ResetPhase::kEstablished);  // not "closing": a new connection
}

TEST(FlowTracker, DropsTheSameSegmentSeenTwiceWithinTheDuplicateWindow) {
  FlowTracker tracker({});
  const TcpSegment fin =
      segment(kClient, kClientPort, kServer, kServerPort, kFin | kAck, 7, 8, 64, 99);
  const PacketTime t(1700000000s);
  EXPECT_FALSE(tracker.observe(fin, t).duplicate);
  EXPECT_TRUE(tracker.observe(fin, t + 40us).duplicate);  // the same packet on a second interface
  EXPECT_TRUE(tracker.observe(fin, t + 49ms).duplicate);
  EXPECT_EQ(tracker.duplicates(), 2u);
  EXPECT_FALSE(tracker.observe(fin, t + 250ms).duplicate);  // a retransmission is not a copy
  TcpSegment other_window = fin;
  other_window.window = 501;  // what NAT keeps differs: another segment
  EXPECT_FALSE(tracker.observe(other_window, t + 251ms).duplicate);
  TcpSegment forwarded = fin;  // one hop later: TTL and IP-ID are not part of the key
  forwarded.ttl = 63;
  forwarded.ip_id = 7;
  EXPECT_TRUE(tracker.observe(forwarded, t + 252ms).duplicate);
}

TEST(FlowTracker, CountsAResetOnceWhenItIsCapturedOnTwoInterfaces) {
  FlowTracker tracker({});
  Connection c(tracker);
  c.from_client(kSyn, kClientIsn);
  const TcpSegment rst =
      segment(kServer, kServerPort, kClient, kClientPort, kRst | kAck, 0, kClientIsn + 1, 64, 0);
  const PacketTime t = c.now() + 1ms;
  EXPECT_TRUE(tracker.observe(rst, t).reset);
  const Observation copy = tracker.observe(rst, t + 15us);
  EXPECT_TRUE(copy.duplicate);
  EXPECT_FALSE(copy.reset);
}

TEST(FlowTracker, SuspectsAMiddleboxWhenTheRstTtlDiffersFromTheSender) {
  FlowTracker tracker({});
  Connection c(tracker);
  c.from_client(kSyn, kClientIsn, 0, 64);
  c.from_server(kSyn | kAck, kServerIsn, kClientIsn + 1, 52);
  const Observation injected = c.from_server(kRst, kServerIsn + 1, 0, 61);
  ASSERT_TRUE(injected.reset);
  EXPECT_TRUE(injected.reset->suspected_middlebox);

  FlowTracker genuine_tracker({});
  Connection genuine(genuine_tracker);
  genuine.from_client(kSyn, kClientIsn, 0, 64);
  genuine.from_server(kSyn | kAck, kServerIsn, kClientIsn + 1, 52);
  const Observation real = genuine.from_server(kRst, kServerIsn + 1, 0, 52);
  ASSERT_TRUE(real.reset);
  EXPECT_FALSE(real.reset->suspected_middlebox);
}

TEST(FlowTracker, DoesNotSuspectARstFromASideWithNoOtherPackets) {
  FlowTracker tracker({});
  Connection c(tracker);
  c.from_client(kSyn, kClientIsn, 0, 64);
  const Observation o = c.from_server(kRst | kAck, 0, kClientIsn + 1, 30);
  ASSERT_TRUE(o.reset);
  EXPECT_FALSE(o.reset->suspected_middlebox);
}

TEST(FlowTracker, EvictsTheLeastRecentlySeenFlowWhenFull) {
  FlowTrackerOptions options;
  options.max_flows = 2;
  FlowTracker tracker(options);
  Connection first(tracker, 40001);
  Connection second(tracker, 40002);
  Connection third(tracker, 40003);
  first.handshake();
  second.handshake();
  first.from_client(kFin | kAck, kClientIsn + 1, kServerIsn + 1);  // first is now the newest
  third.handshake();                                               // evicts second
  EXPECT_EQ(tracker.flows(), 2u);
  EXPECT_EQ(tracker.evicted(), 1u);
  // first kept its state: the server's FIN completes the close with TIME_WAIT on the client.
  EXPECT_TRUE(first.from_server(kFin | kAck, kServerIsn + 1, kClientIsn + 2)
                  .time_wait[index_of(TimeWaitSide::kClient)]);
}

TEST(FlowTracker, EvictsClosedFlowsBeforeOpenOnes) {
  FlowTrackerOptions options;
  options.max_flows = 2;
  FlowTracker tracker(options);
  Connection closed(tracker, 40001);
  Connection open(tracker, 40002);
  closed.from_client(kSyn, kClientIsn);
  open.handshake();
  closed.from_server(kRst | kAck, 0, kClientIsn + 1);  // closed is the newest, but closed
  Connection third(tracker, 40003);
  third.handshake();
  EXPECT_EQ(tracker.evicted(), 1u);
  // open survived: its RST is still an established-phase reset of a known connection.
  const Observation o = open.from_server(kRst, kServerIsn + 1);
  ASSERT_TRUE(o.reset);
  EXPECT_EQ(o.reset->phase, ResetPhase::kEstablished);
}

TEST(FlowTracker, ExpiresFlowsIdleForTheTimeout) {
  FlowTrackerOptions options;
  options.flow_idle_timeout = 30s;
  FlowTracker tracker(options);
  Connection c(tracker);
  c.from_client(kSyn, kClientIsn);
  EXPECT_EQ(tracker.flows(), 1u);
  tracker.expire(c.now() + 29s);
  EXPECT_EQ(tracker.flows(), 1u);
  tracker.expire(c.now() + 31s);
  EXPECT_EQ(tracker.flows(), 0u);
  EXPECT_EQ(tracker.expired(), 1u);
  EXPECT_EQ(tracker.evicted(), 0u);
}

TEST(FlowTracker, KeepsClosedFlowsOnlyForTheTimeWaitPeriod) {
  FlowTracker tracker({});  // 5 min idle timeout
  Connection c(tracker);
  c.handshake();
  c.from_client(kFin | kAck, kClientIsn + 1, kServerIsn + 1);
  c.from_server(kFin | kAck, kServerIsn + 1, kClientIsn + 2);
  tracker.expire(c.now() + 59s);
  EXPECT_EQ(tracker.flows(), 1u);
  tracker.expire(c.now() + 61s);
  EXPECT_EQ(tracker.flows(), 0u);
}

TEST(FlowTracker, LabelsWellKnownAndListedServerPortsAndNeverEphemeralOnes) {
  FlowTrackerOptions options;
  options.ports = {8080};
  FlowTracker tracker(options);
  // Every connection picks its own initial sequence numbers (RFC 9293 §3.4.1).
  Connection web(tracker, 50000, 443);
  web.from_client(kSyn, 101);
  EXPECT_EQ(web.from_server(kSyn | kAck, 201, 102).port.to_string(), "443");
  Connection listed(tracker, 50001, 8080);
  listed.from_client(kSyn, 301);
  EXPECT_EQ(listed.from_server(kSyn | kAck, 401, 302).port.to_string(), "8080");
  Connection unlisted(tracker, 50002, 9090);
  unlisted.from_client(kSyn, 501);
  EXPECT_TRUE(unlisted.from_server(kSyn | kAck, 601, 502).port.is_other());
  // A client that connects from a low port to a high one: the label is still the server port.
  Connection odd(tracker, 700, 40000);
  odd.from_client(kSyn, 701);
  EXPECT_TRUE(odd.from_server(kSyn | kAck, 801, 702).port.is_other());
}

TEST(FlowTracker, NamesThePeerFromTheDirectionOrTheLocalAddresses) {
  {
    FlowTracker tracker({});
    TcpSegment rst = segment("203.0.113.9", 443, "10.0.0.1", 40000, kRst | kAck, 1, 2);
    rst.direction = Direction::kIncoming;
    EXPECT_EQ(tracker.observe(rst, PacketTime(1s)).reset->peer.to_string(), "203.0.113.9");
  }
  {
    FlowTracker tracker({});
    TcpSegment rst = segment("10.0.0.1", 40000, "203.0.113.9", 443, kRst | kAck, 1, 2);
    rst.direction = Direction::kOutgoing;
    EXPECT_EQ(tracker.observe(rst, PacketTime(1s)).reset->peer.to_string(), "203.0.113.9");
  }
  {
    FlowTrackerOptions options;
    options.local_addresses = {testing::address("203.0.113.9")};  // this host is the server
    FlowTracker tracker(options);
    const TcpSegment rst = segment("10.0.0.1", 40000, "203.0.113.9", 443, kRst | kAck, 1, 2);
    EXPECT_EQ(tracker.observe(rst, PacketTime(1s)).reset->peer.to_string(), "10.0.0.1");
  }
  {
    FlowTracker tracker({});  // nothing known: the server is named
    const TcpSegment rst = segment("10.0.0.1", 40000, "203.0.113.9", 443, kRst | kAck, 1, 2);
    EXPECT_EQ(tracker.observe(rst, PacketTime(1s)).reset->peer.to_string(), "203.0.113.9");
  }
}

TEST(FlowTracker, TracksIpv6ConnectionsLikeIpv4Ones) {
  FlowTracker tracker({});
  const PacketTime t(1s);
  tracker.observe(segment("2001:db8::1", 40000, "2001:db8::2", 443, kSyn, 10), t);
  const Observation o = tracker.observe(
      segment("2001:db8::2", 443, "2001:db8::1", 40000, kRst | kAck, 0, 11), t + 1ms);
  ASSERT_TRUE(o.reset);
  EXPECT_EQ(o.reset->phase, ResetPhase::kHandshake);
  EXPECT_EQ(o.reset->sender, ResetSender::kServer);
}

// FLOWS.md states the figure; the issue asks for it in the note. A power-of-two max_flows gives
// exactly two index slots per flow.
TEST(FlowTracker, CostsOneHundredBytesPerFlow) { EXPECT_EQ(FlowTracker::kBytesPerFlow, 100u); }

TEST(FlowTracker, KeepsAQuietEstablishedFlowPastTheIdleTimeoutUntilEstablishedTimeout) {
  FlowTrackerOptions options;
  options.established_timeout = std::chrono::hours(2);
  FlowTracker tracker(options);
  Connection c(tracker, 40001, 50051);  // the server's port is above the client's
  c.from_client(kSyn, kClientIsn, 0, 64);
  c.from_server(kSyn | kAck, kServerIsn, kClientIsn + 1, 50);
  c.now() += 400s;
  const Observation o = c.from_server(kRst, kServerIsn + 1, 0, 255);  // a NAT's idle reset
  ASSERT_TRUE(o.reset);
  EXPECT_EQ(o.reset->sender, ResetSender::kServer);
  EXPECT_EQ(o.reset->phase, ResetPhase::kEstablished);
  EXPECT_TRUE(o.reset->suspected_middlebox);
  EXPECT_EQ(o.reset->flow_ttl, 50);
  tracker.expire(c.now() + 61s);
  EXPECT_EQ(tracker.flows(), 0u) << "a reset flow lingers only 60 s";
  Connection quiet(tracker, 40002, 443);
  quiet.handshake();
  tracker.expire(quiet.now() + 7199s);
  EXPECT_EQ(tracker.flows(), 1u);
  tracker.expire(quiet.now() + 7200s);
  EXPECT_EQ(tracker.flows(), 0u);
}

TEST(FlowTracker, ForgetsAnUnansweredSynAfterTheIdleTimeout) {
  FlowTracker tracker({});
  Connection c(tracker);
  c.from_client(kSyn, kClientIsn);
  tracker.expire(c.now() + 299s);
  EXPECT_EQ(tracker.flows(), 1u);
  tracker.expire(c.now() + 300s);
  EXPECT_EQ(tracker.flows(), 0u);
}

TEST(FlowTracker, FlagsAResetThatTheRealSynAckFollowsWithoutCountingANewConnection) {
  FlowTracker tracker({});
  Connection c(tracker);
  c.from_client(kSyn, kClientIsn);
  const Observation rst = c.from_server(kRst | kAck, 0, kClientIsn + 1, 250);
  ASSERT_TRUE(rst.reset);
  EXPECT_EQ(rst.reset->phase, ResetPhase::kHandshake);
  const Observation syn_ack = c.from_server(kSyn | kAck, kServerIsn, kClientIsn + 1, 57);
  EXPECT_FALSE(syn_ack.connection_opened);
  ASSERT_TRUE(syn_ack.injected_reset);
  EXPECT_EQ(syn_ack.injected_reset->ttl, 250);
  EXPECT_FALSE(c.from_server(kSyn | kAck, kServerIsn, kClientIsn + 1, 57).injected_reset)
      << "flagged once per connection";
}

TEST(FlowTracker, DoesNotFlagARefusalFollowedByARetry) {
  FlowTracker tracker({});
  Connection c(tracker);
  c.from_client(kSyn, kClientIsn);
  EXPECT_TRUE(c.from_server(kRst | kAck, 0, kClientIsn + 1).reset);
  c.now() += 1s;
  EXPECT_FALSE(c.from_client(kSyn, kClientIsn + 99999).injected_reset);
  const Observation o = c.from_server(kSyn | kAck, kServerIsn, kClientIsn + 100000);
  EXPECT_TRUE(o.connection_opened);
  EXPECT_FALSE(o.injected_reset);
}

TEST(FlowTracker, TreatsASegmentSeenAgainAfterMasqueradeAsOneAndNamesTheSharedEnd) {
  FlowTracker tracker({});
  const PacketTime t(1700000000s);
  // The container's SYN on its veth, then on the uplink with the host's address and port.
  const TcpSegment syn = segment("172.17.0.2", 40000, "198.51.100.7", 8443, kSyn, 100);
  TcpSegment syn_out = segment("10.0.0.5", 61000, "198.51.100.7", 8443, kSyn, 100);
  syn_out.ttl = 63;
  EXPECT_FALSE(tracker.observe(syn, t).duplicate);
  EXPECT_TRUE(tracker.observe(syn_out, t + 100us).duplicate);
  // The RST comes in on the uplink first, then goes out on the veth.
  TcpSegment rst = segment("198.51.100.7", 8443, "10.0.0.5", 61000, kRst | kAck, 0, 101, 55);
  rst.direction = Direction::kOutgoing;  // a direction that would name the wrong end
  const Observation o = tracker.observe(rst, t + 1ms);
  ASSERT_TRUE(o.reset);
  EXPECT_EQ(o.reset->phase, ResetPhase::kHandshake);
  EXPECT_EQ(o.reset->sender, ResetSender::kServer);
  EXPECT_EQ(o.reset->peer.to_string(), "198.51.100.7");
  const TcpSegment rst_in =
      segment("198.51.100.7", 8443, "172.17.0.2", 40000, kRst | kAck, 0, 101, 54);
  EXPECT_TRUE(tracker.observe(rst_in, t + 1100us).duplicate);
  // Two unrelated connections that repeat each other's numbers share no end: not copies.
  const TcpSegment other = segment("192.0.2.1", 50000, "192.0.2.2", 80, kSyn, 100);
  EXPECT_FALSE(tracker.observe(other, t + 2ms).duplicate);
}

}  // namespace
}  // namespace connwatch::passive
