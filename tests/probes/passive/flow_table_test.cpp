#include "probes/passive/flow_table.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <list>
#include <map>
#include <random>

#include "tests/probes/passive/packet_builder.h"

namespace connwatch::passive {
namespace {

using namespace std::chrono_literals;

FlowKey key(std::uint16_t client_port) {
  return FlowKey::of(testing::segment("10.0.0.1", client_port, "10.0.0.2", 443, 0, 0)).first;
}

TEST(FlowKey, GivesBothDirectionsOfAConnectionTheSameKey) {
  const auto [forward, forward_side] =
      FlowKey::of(testing::segment("10.0.0.9", 40000, "10.0.0.2", 443, 0, 0));
  const auto [backward, backward_side] =
      FlowKey::of(testing::segment("10.0.0.2", 443, "10.0.0.9", 40000, 0, 0));
  EXPECT_EQ(forward, backward);
  EXPECT_EQ(forward.hash(), backward.hash());
  EXPECT_NE(forward_side, backward_side);
}

TEST(FlowKey, OrdersEndpointsOnTheSameAddressByPort) {
  const auto [key_a, side_a] = FlowKey::of(testing::segment("::1", 50000, "::1", 8080, 0, 0));
  const auto [key_b, side_b] = FlowKey::of(testing::segment("::1", 8080, "::1", 50000, 0, 0));
  EXPECT_EQ(key_a, key_b);
  EXPECT_EQ(side_b, FlowSide::kA);
}

TEST(FlowTable, FindsWhatItInserted) {
  FlowTable<int> table(8);
  bool inserted = false;
  table.find_or_insert(key(1), PacketTime(1s), inserted).state = 11;
  EXPECT_TRUE(inserted);
  EXPECT_EQ(table.find_or_insert(key(1), PacketTime(2s), inserted).state, 11);
  EXPECT_FALSE(inserted);
  EXPECT_EQ(table.find(key(2)), nullptr);
  EXPECT_EQ(table.size(), 1u);
}

TEST(FlowTable, EvictsLeastRecentlySeenFlowWhenFull) {
  FlowTable<int> table(3);
  bool inserted = false;
  for (std::uint16_t port = 1; port <= 3; ++port) {
    table.find_or_insert(key(port), PacketTime(port * 1s), inserted);
  }
  table.find_or_insert(key(1), PacketTime(4s), inserted);  // 2 is now the oldest
  table.find_or_insert(key(4), PacketTime(5s), inserted);
  EXPECT_EQ(table.size(), 3u);
  EXPECT_EQ(table.evicted(), 1u);
  EXPECT_EQ(table.find(key(2)), nullptr);
  EXPECT_NE(table.find(key(1)), nullptr);
  EXPECT_NE(table.find(key(3)), nullptr);
  EXPECT_NE(table.find(key(4)), nullptr);
}

TEST(FlowTable, EvictsClosedFlowsFirst) {
  FlowTable<int> table(2);
  bool inserted = false;
  table.find_or_insert(key(1), PacketTime(1s), inserted);
  auto& newer = table.find_or_insert(key(2), PacketTime(2s), inserted);
  table.close(newer);
  table.find_or_insert(key(3), PacketTime(3s), inserted);
  EXPECT_EQ(table.find(key(2)), nullptr);
  EXPECT_NE(table.find(key(1)), nullptr);
}

TEST(FlowTable, ExpiresEachListOnItsOwnTimeout) {
  FlowTable<int> table(8);
  bool inserted = false;
  table.set_timeouts({PacketTime(300s), PacketTime(7200s), PacketTime(60s)});
  table.find_or_insert(key(1), PacketTime(0s), inserted);  // opening
  table.close(table.find_or_insert(key(2), PacketTime(0s), inserted));
  table.move_to(table.find_or_insert(key(3), PacketTime(0s), inserted), FlowList::kLongLived);
  table.expire(PacketTime(61s));
  EXPECT_NE(table.find(key(1)), nullptr);
  EXPECT_EQ(table.find(key(2)), nullptr);
  table.expire(PacketTime(300s));
  EXPECT_EQ(table.find(key(1)), nullptr);
  EXPECT_NE(table.find(key(3)), nullptr) << "an established flow is not idle after 5 minutes";
  table.expire(PacketTime(7200s));
  EXPECT_EQ(table.size(), 0u);
  EXPECT_EQ(table.expired(), 3u);
}

TEST(FlowTable, EvictsTheLeastRecentlySeenOfOpeningAndLongLivedFlowsWhenNoneIsClosed) {
  FlowTable<int> table(2);
  bool inserted = false;
  table.move_to(table.find_or_insert(key(1), PacketTime(1s), inserted), FlowList::kLongLived);
  table.find_or_insert(key(2), PacketTime(2s), inserted);  // opening, seen later
  table.find_or_insert(key(3), PacketTime(3s), inserted);
  EXPECT_EQ(table.find(key(1)), nullptr);
  EXPECT_NE(table.find(key(2)), nullptr);
  EXPECT_EQ(table.evicted(), 1u);
}

TEST(FlowTable, HandlesStopResolvingOnceTheEntryIsGone) {
  FlowTable<int> table(1);
  bool inserted = false;
  auto& first = table.find_or_insert(key(1), PacketTime(1s), inserted);
  const std::uint32_t position = table.position_of_entry(first);
  const std::uint32_t hash = table.hash_at(position);
  EXPECT_EQ(table.at(position, hash), &first);
  table.find_or_insert(key(2), PacketTime(2s), inserted);  // evicts key 1, reuses its entry
  EXPECT_EQ(table.at(position, hash), nullptr);
}

// Random inserts, touches and evictions against std::map as the reference: the open-addressing
// index must never lose or invent a flow across backward-shift deletions.
TEST(FlowTable, AgreesWithAReferenceMapUnderRandomChurn) {
  constexpr std::size_t kMaxFlows = 64;
  FlowTable<std::uint32_t> table(kMaxFlows);
  std::map<std::uint16_t, std::int64_t> last_seen;  // port -> time, the model
  std::mt19937 random(12345);
  bool inserted = false;
  for (std::int64_t step = 1; step <= 20000; ++step) {
    const auto port = static_cast<std::uint16_t>(random() % 200 + 1);
    auto& entry = table.find_or_insert(key(port), PacketTime(step), inserted);
    ASSERT_EQ(inserted, !last_seen.contains(port)) << "step " << step;
    if (inserted) {
      entry.state = port;
      if (last_seen.size() == kMaxFlows) {
        auto oldest = last_seen.begin();
        for (auto it = last_seen.begin(); it != last_seen.end(); ++it) {
          if (it->second < oldest->second) oldest = it;
        }
        last_seen.erase(oldest);
      }
    }
    ASSERT_EQ(entry.state, port);
    last_seen[port] = step;
    ASSERT_EQ(table.size(), last_seen.size());
  }
  for (std::uint16_t port = 1; port <= 200; ++port) {
    EXPECT_EQ(table.find(key(port)) != nullptr, last_seen.contains(port)) << port;
  }
}

// expire() skips its look at the lists' tails while no tail can have expired (next_expiry_). The
// reference here looks at every tail on every call, as expire() did before: flows seen at
// capture times that go back and forth (several interfaces, pcapng sections), moved between
// lists, touched and expired at random must leave the same flows in both.
TEST(FlowTable, ExpiresExactlyAsCheckingEveryTailOnEveryPacketWould) {
  using Timeouts = FlowTable<int>::Timeouts;
  const Timeouts timeouts = {PacketTime(300s), PacketTime(7200s), PacketTime(60s)};
  struct Model {
    std::array<std::list<std::uint16_t>, kFlowLists> lists;  // front = most recently seen
    std::map<std::uint16_t, std::pair<FlowList, PacketTime>> flows;
    void unlink(std::uint16_t port) {
      lists[static_cast<std::size_t>(flows[port].first)].remove(port);
    }
    void seen(std::uint16_t port, PacketTime now) {
      if (flows.contains(port)) {
        unlink(port);
        flows[port].second = std::max(flows[port].second, now);
      } else {
        flows[port] = {FlowList::kOpening, now};
      }
      lists[static_cast<std::size_t>(flows[port].first)].push_front(port);
    }
    void move(std::uint16_t port, FlowList list) {
      if (flows[port].first == list) return;
      unlink(port);
      flows[port].first = list;
      lists[static_cast<std::size_t>(list)].push_front(port);
    }
    void expire(PacketTime now, const Timeouts& idle) {
      for (std::size_t list = 0; list < kFlowLists; ++list) {
        while (!lists[list].empty() && now - flows[lists[list].back()].second >= idle[list]) {
          flows.erase(lists[list].back());
          lists[list].pop_back();
        }
      }
    }
  };
  FlowTable<int> table(4096);
  table.set_timeouts(timeouts);
  Model model;
  std::mt19937 random(2024);
  std::int64_t base = 0;
  bool inserted = false;
  for (int step = 0; step < 200000; ++step) {
    base += static_cast<std::int64_t>(random() % 400) * 1000;  // up to 0.4 s a step
    // Up to 90 s back or forth: longer than the closed list's 60 s timeout.
    const PacketTime now(base + static_cast<std::int64_t>(random() % 180'000'000) - 90'000'000);
    const auto port = static_cast<std::uint16_t>(random() % 500 + 1);
    table.expire(now);
    model.expire(now, timeouts);
    auto& entry = table.find_or_insert(key(port), now, inserted);
    ASSERT_EQ(inserted, !model.flows.contains(port)) << "step " << step;
    model.seen(port, now);
    if (random() % 4 == 0) {
      const auto list = static_cast<FlowList>(random() % kFlowLists);
      table.move_to(entry, list);
      model.move(port, list);
    }
    ASSERT_EQ(table.size(), model.flows.size()) << "step " << step;
  }
  for (std::uint16_t port = 1; port <= 500; ++port) {
    EXPECT_EQ(table.find(key(port)) != nullptr, model.flows.contains(port)) << port;
  }
  EXPECT_GT(table.expired(), 1000u);
}

}  // namespace
}  // namespace connwatch::passive
