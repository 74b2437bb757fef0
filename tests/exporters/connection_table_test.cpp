// The HTTP server's connection table (issue 21: slowloris): at the limit the connection that has
// waited longest without a request in progress gives way, one that never finished a request
// before one that did; a connection writing a response is never closed for a newcomer.
#include "exporters/connection_table.h"

#include <gtest/gtest.h>

#include <vector>

namespace connwatch::exporters {
namespace {

using namespace std::chrono_literals;
using Clock = ConnectionTable::Clock;

TEST(ConnectionTable, TransitionsFollowTheDocumentedStateMachine) {
  EXPECT_EQ(next_phase(ConnPhase::kHandshake, ConnEvent::kHandshakeDone),
            ConnPhase::kReadingHeader);
  EXPECT_EQ(next_phase(ConnPhase::kReadingHeader, ConnEvent::kHeaderRead), ConnPhase::kReadingBody);
  EXPECT_EQ(next_phase(ConnPhase::kReadingBody, ConnEvent::kRequestRead), ConnPhase::kWriting);
  EXPECT_EQ(next_phase(ConnPhase::kWriting, ConnEvent::kResponseWritten), ConnPhase::kIdle);
  EXPECT_EQ(next_phase(ConnPhase::kIdle, ConnEvent::kFirstByte), ConnPhase::kReadingHeader);
  // Out-of-order events change nothing.
  EXPECT_EQ(next_phase(ConnPhase::kWriting, ConnEvent::kFirstByte), ConnPhase::kWriting);
  EXPECT_EQ(next_phase(ConnPhase::kIdle, ConnEvent::kHeaderRead), ConnPhase::kIdle);
  EXPECT_FALSE(evictable(ConnPhase::kWriting));
  for (auto p : {ConnPhase::kHandshake, ConnPhase::kReadingHeader, ConnPhase::kReadingBody,
                 ConnPhase::kIdle}) {
    EXPECT_TRUE(evictable(p)) << to_string(p);
  }
  EXPECT_EQ(to_string(ConnPhase::kReadingHeader), "reading_header");
  EXPECT_EQ(to_string(ConnEvent::kFirstByte), "first_byte");
}

TEST(ConnectionTable, AtTheLimitTheLongestWaitingHalfSentConnectionGivesWay) {
  ConnectionTable table(3);
  std::vector<int> closed;
  const auto t0 = Clock::now();
  auto closer = [&](int n) { return [&closed, n] { closed.push_back(n); }; };
  const auto a = table.admit(ConnPhase::kReadingHeader, closer(1), t0);
  const auto b = table.admit(ConnPhase::kReadingHeader, closer(2), t0 + 1s);
  const auto c = table.admit(ConnPhase::kReadingHeader, closer(3), t0 + 2s);
  ASSERT_TRUE(a && b && c);
  // Trickled bytes do not refresh a connection: only a phase change does.
  table.on(*a, ConnEvent::kFirstByte, t0 + 3s);
  const auto d = table.admit(ConnPhase::kReadingHeader, closer(4), t0 + 4s);
  ASSERT_TRUE(d);
  EXPECT_EQ(closed, std::vector<int>{1});
  EXPECT_EQ(table.size(), 3u);
  EXPECT_EQ(table.evicted(), 1u);
  EXPECT_FALSE(table.phase(*a));
  table.on(*a, ConnEvent::kHeaderRead);  // an evicted connection's late events are ignored
  table.remove(*a);
  EXPECT_EQ(table.size(), 3u);
}

TEST(ConnectionTable, AClientThatFinishedARequestOutranksOneThatNeverDid) {
  ConnectionTable table(2);
  std::vector<int> closed;
  const auto t0 = Clock::now();
  const auto scraper = table.admit(
      ConnPhase::kReadingHeader, [&] { closed.push_back(1); }, t0);
  table.on(*scraper, ConnEvent::kHeaderRead, t0);
  table.on(*scraper, ConnEvent::kRequestRead, t0);
  table.on(*scraper, ConnEvent::kResponseWritten, t0);  // idle keep-alive since t0
  const auto slow = table.admit(
      ConnPhase::kHandshake, [&] { closed.push_back(2); }, t0 + 5s);
  ASSERT_TRUE(slow);
  // The idle scraper has waited longer, but the never-served handshake gives way first.
  ASSERT_TRUE(table.admit(
      ConnPhase::kReadingHeader, [&] { closed.push_back(3); }, t0 + 6s));
  EXPECT_EQ(closed, std::vector<int>{2});
  EXPECT_EQ(table.phase(*scraper), ConnPhase::kIdle);
}

TEST(ConnectionTable, ConnectionsWritingAResponseAreNeverEvicted) {
  ConnectionTable table(1);
  bool closed = false;
  const auto busy = table.admit(ConnPhase::kReadingHeader, [&] { closed = true; });
  table.on(*busy, ConnEvent::kHeaderRead);
  table.on(*busy, ConnEvent::kRequestRead);
  EXPECT_FALSE(table.admit(ConnPhase::kReadingHeader, [] {}));
  EXPECT_FALSE(closed);
  EXPECT_EQ(table.refused(), 1u);
  table.on(*busy, ConnEvent::kResponseWritten);
  EXPECT_TRUE(table.admit(ConnPhase::kReadingHeader, [] {}));
  EXPECT_TRUE(closed);
}

TEST(ConnectionTable, CloseAllClosesEveryConnection) {
  ConnectionTable table(8);
  int closed = 0;
  for (int i = 0; i < 5; ++i) table.admit(ConnPhase::kIdle, [&] { ++closed; });
  table.close_all();
  EXPECT_EQ(closed, 5);
  EXPECT_EQ(table.size(), 0u);
}

}  // namespace
}  // namespace connwatch::exporters
