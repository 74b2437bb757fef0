#include "probes/passive/peer_table.h"

#include <gtest/gtest.h>

#include <string>

#include "tests/probes/passive/packet_builder.h"

namespace connwatch::passive {
namespace {

IpAddress peer(int n) { return testing::address("198.51.100." + std::to_string(n)); }

TEST(PeerTable, GivesTheFirstPeersFreeSlots) {
  PeerTable table(2);
  EXPECT_EQ(table.record(peer(1)).slot, 0u);
  EXPECT_EQ(table.record(peer(2)).slot, 1u);
  EXPECT_FALSE(table.record(peer(3)).slot);  // counted in "other"
  EXPECT_EQ(table.record(peer(1)).slot, 0u);
}

TEST(PeerTable, PromotesAPeerThatClearlyOutgrowsTheWeakestSlot) {
  PeerTable table(2);
  table.record(peer(1));
  table.record(peer(2));
  for (int i = 0; i < 5; ++i) table.record(peer(1));
  PeerTable::Assignment last;
  int resets = 0;
  do {
    last = table.record(peer(3));
    ++resets;
  } while (!last.promoted && resets < 100);
  EXPECT_TRUE(last.promoted);
  EXPECT_EQ(resets, 3);  // weakest holder (peer 2) has 1; 3 >= 1 + max(2, 0)
  ASSERT_TRUE(last.displaced);
  EXPECT_EQ(*last.displaced, peer(2));
  EXPECT_EQ(table.slots()[1], peer(3));
  EXPECT_FALSE(table.record(peer(2)).slot);  // the displaced peer now counts in "other"
}

TEST(PeerTable, DoesNotSwapPeersWithSimilarCounts) {
  PeerTable table(1);
  int swaps = 0;
  for (int i = 0; i < 1000; ++i) {
    swaps += table.record(peer(1 + i % 2)).displaced ? 1 : 0;
  }
  EXPECT_EQ(swaps, 0);
}

TEST(PeerTable, StaysBoundedUnderAFloodOfDistinctPeers) {
  PeerTable table(20);
  for (int i = 0; i < 100000; ++i) {
    const std::array<std::uint8_t, 4> bytes = {10, static_cast<std::uint8_t>(i >> 16),
                                               static_cast<std::uint8_t>(i >> 8),
                                               static_cast<std::uint8_t>(i)};
    table.record(IpAddress::v4(bytes));
  }
  // A heavy hitter arriving late still wins a slot.
  bool promoted = false;
  for (int i = 0; i < 50 && !promoted; ++i) promoted = table.record(peer(7)).promoted;
  EXPECT_TRUE(promoted);
  EXPECT_EQ(table.slots().size(), 20u);
}

TEST(PeerTable, CountsEverythingAsOtherWithNoSlots) {
  PeerTable table(0);
  EXPECT_FALSE(table.record(peer(1)).slot);
}

}  // namespace
}  // namespace connwatch::passive
