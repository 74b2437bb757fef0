#include "probes/kernel/socket_counter_history.h"

#include <gtest/gtest.h>

namespace connwatch::kernel {
namespace {

using Delta = SocketCounterHistory::Delta;

TEST(SocketCounterHistory, TheFirstCollectionOnlySetsTheBaseline) {
  SocketCounterHistory h;
  EXPECT_EQ(h.observe(10, 5, 100), (Delta{0, 0}));
  h.finish_collection();
  EXPECT_EQ(h.remembered(), 1U);
}

TEST(SocketCounterHistory, AddsWhatEachSocketDidSinceThePreviousCollection) {
  SocketCounterHistory h;
  h.observe(10, 5, 100);
  h.observe(11, 0, 40);
  h.finish_collection();
  EXPECT_EQ(h.observe(11, 2, 90), (Delta{2, 50}));
  EXPECT_EQ(h.observe(10, 5, 130), (Delta{0, 30}));
  h.finish_collection();
  EXPECT_EQ(h.observe(10, 7, 131), (Delta{2, 1}));
}

TEST(SocketCounterHistory, CountsAWholeSocketBornSinceThePreviousCollection) {
  SocketCounterHistory h;
  h.observe(10, 5, 100);
  h.finish_collection();
  EXPECT_EQ(h.observe(25, 3, 70), (Delta{3, 70}));  // a cookie above every one seen before
}

TEST(SocketCounterHistory, NeverCountsTheLifeOfASocketItCouldNotRemember) {
  SocketCounterHistory h(/*max_sockets=*/1);
  h.observe(10, 5, 100);
  h.observe(11, 9, 900);  // over the bound: not remembered
  h.finish_collection();
  EXPECT_EQ(h.remembered(), 1U);
  EXPECT_EQ(h.observe(11, 10, 950), (Delta{0, 0}));  // old cookie, unknown: nothing, not 950
  EXPECT_EQ(h.observe(10, 6, 110), (Delta{1, 10}));
}

TEST(SocketCounterHistory, SurvivesTheKernelsThirtyTwoBitCountersWrapping) {
  SocketCounterHistory h;
  h.observe(10, 0, 0xFFFFFFF0U);
  h.finish_collection();
  EXPECT_EQ(h.observe(10, 0, 0x10U), (Delta{0, 0x20U}));
}

TEST(SocketCounterHistory, AnAbandonedCollectionKeepsThePreviousBaseline) {
  SocketCounterHistory h;
  h.observe(10, 1, 10);
  h.finish_collection();
  h.observe(10, 2, 20);
  h.abandon_collection();
  EXPECT_EQ(h.observe(10, 3, 30), (Delta{2, 20}));
}

}  // namespace
}  // namespace connwatch::kernel
