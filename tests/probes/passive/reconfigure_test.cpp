// A config reload applied in place (issue 21 item 2): FlowTable::set_max_flows,
// FlowTracker::reconfigure, PeerTable::set_max_peers and PacketPipeline::reconfigure keep the
// flows, the peer table and every count, so no counter goes down across a reload.
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <chrono>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "probes/passive/flow_table.h"
#include "probes/passive/flow_tracker.h"
#include "probes/passive/packet_pipeline.h"
#include "probes/passive/passive_metrics.h"
#include "probes/passive/peer_table.h"
#include "tests/probes/passive/packet_builder.h"

namespace connwatch::passive {
namespace {

using namespace std::chrono_literals;
using testing::frame;
using testing::PacketSpec;

FlowKey key(std::uint16_t client_port) {
  return FlowKey::of(testing::segment("10.0.0.1", client_port, "10.0.0.2", 443, 0, 0)).first;
}

// The sum of a family's series whose labels include `labels`; -1 when none matches.
double sum(prometheus::Registry& registry, const std::string& name,
           const std::map<std::string, std::string>& labels = {}) {
  double total = -1;
  for (const prometheus::MetricFamily& family : registry.Collect()) {
    if (family.name != name) continue;
    for (const prometheus::ClientMetric& metric : family.metric) {
      std::map<std::string, std::string> have;
      for (const auto& label : metric.label) have[label.name] = label.value;
      bool match = true;
      for (const auto& [label, wanted] : labels) match = match && have[label] == wanted;
      if (!match) continue;
      total = (total < 0 ? 0 : total) + metric.counter.value;
    }
  }
  return total;
}

std::set<std::string> peers(prometheus::Registry& registry) {
  std::set<std::string> out;
  for (const prometheus::MetricFamily& family : registry.Collect()) {
    if (family.name != "connwatch_tcp_peer_resets_total") continue;
    for (const prometheus::ClientMetric& metric : family.metric) {
      for (const auto& l : metric.label) {
        if (l.name == "peer") out.insert(l.value);
      }
    }
  }
  return out;
}

// Incoming RSTs (the client is the remote peer), one per client address, `count` each.
void resets_from(PacketPipeline& pipeline, const std::vector<std::string>& clients, int count,
                 PacketTime& t) {
  for (const std::string& client : clients) {
    for (int i = 0; i < count; ++i) {
      PacketSpec rst;
      rst.src = client;
      rst.dst = "10.0.0.2";
      rst.src_port = static_cast<std::uint16_t>(40000 + i);
      rst.dst_port = 443;
      rst.flags = tcp_flags::kRst;
      // Each connection its own sequence number: equal numbers within the duplicate window are
      // one segment seen twice (a NAT copy, FLOWS.md).
      static std::uint32_t next_seq = 1000;
      rst.seq = next_seq += 7919;
      t += 20ms;
      pipeline.on_packet(frame(LinkType::kLinuxSll2, rst), t);
    }
  }
  pipeline.flush();
}

TEST(FlowTableReconfigure, GrowingKeepsEveryFlowFindable) {
  FlowTable<int> table(64);
  bool inserted = false;
  for (std::uint16_t port = 1; port <= 64; ++port) {
    table.find_or_insert(key(port), PacketTime(port * 1s), inserted).state = port;
  }
  table.set_max_flows(100000);
  EXPECT_EQ(table.max_flows(), 100000u);
  EXPECT_EQ(table.size(), 64u);
  for (std::uint16_t port = 1; port <= 64; ++port) {
    const auto* entry = table.find(key(port));
    ASSERT_NE(entry, nullptr) << port;
    EXPECT_EQ(entry->state, port);
  }
  for (std::uint16_t port = 65; port <= 200; ++port) {
    table.find_or_insert(key(port), PacketTime(port * 1s), inserted);
    EXPECT_TRUE(inserted);
  }
  EXPECT_EQ(table.size(), 200u);
  EXPECT_EQ(table.evicted(), 0u);
}

TEST(FlowTableReconfigure, ShrinkingEvictsTheLeastRecentlySeenAndCountsThem) {
  FlowTable<int> table(100);
  bool inserted = false;
  for (std::uint16_t port = 1; port <= 100; ++port) {
    table.find_or_insert(key(port), PacketTime(port * 1s), inserted);
  }
  table.close(*table.find(key(100)));  // closed flows go first
  table.set_max_flows(10);
  EXPECT_EQ(table.size(), 10u);
  EXPECT_EQ(table.evicted(), 90u);
  EXPECT_EQ(table.find(key(100)), nullptr);
  for (std::uint16_t port = 90; port <= 99; ++port) EXPECT_NE(table.find(key(port)), nullptr);
  EXPECT_EQ(table.find(key(89)), nullptr);
  // Still bounded, still an LRU: the next insert evicts the oldest, 90.
  table.find_or_insert(key(500), PacketTime(500s), inserted);
  EXPECT_EQ(table.size(), 10u);
  EXPECT_EQ(table.find(key(90)), nullptr);
  EXPECT_NE(table.find(key(500)), nullptr);
}

TEST(FlowTrackerReconfigure, AConnectionOpenedBeforeTheReloadKeepsItsStateAndGetsTheNewPort) {
  FlowTrackerOptions options;
  FlowTracker tracker(options);
  PacketTime t = 1000s;
  using testing::segment;
  tracker.observe(segment("10.0.0.1", 40000, "10.0.0.2", 9000, tcp_flags::kSyn, 100), t += 1ms);
  const Observation opened = tracker.observe(
      segment("10.0.0.2", 9000, "10.0.0.1", 40000, tcp_flags::kSyn | tcp_flags::kAck, 700, 101),
      t += 1ms);
  EXPECT_TRUE(opened.connection_opened);
  EXPECT_EQ(opened.port.to_string(), "other");

  options.ports = {9000};
  tracker.reconfigure(options);
  EXPECT_EQ(tracker.flows(), 1u);
  const Observation reset =
      tracker.observe(segment("10.0.0.2", 9000, "10.0.0.1", 40000, tcp_flags::kRst, 701), t += 1ms);
  ASSERT_TRUE(reset.reset);
  EXPECT_EQ(reset.port.to_string(), "9000");
  // Roles and phase come from the handshake seen before the reload.
  EXPECT_EQ(reset.reset->sender, ResetSender::kServer);
  EXPECT_EQ(reset.reset->phase, ResetPhase::kEstablished);
}

TEST(FlowTrackerReconfigure, AShorterIdleTimeoutAppliesToFlowsAlreadyOpen) {
  FlowTrackerOptions options;
  FlowTracker tracker(options);
  tracker.observe(testing::segment("10.0.0.1", 40000, "10.0.0.2", 80, tcp_flags::kSyn, 1), 100s);
  options.flow_idle_timeout = 10s;
  tracker.reconfigure(options);
  tracker.expire(105s);
  EXPECT_EQ(tracker.flows(), 1u);
  tracker.expire(111s);
  EXPECT_EQ(tracker.flows(), 0u);
  EXPECT_EQ(tracker.expired(), 1u);
}

TEST(PeerTableReconfigure, ShrinkingFreesTheLastSlotsAndGrowingAddsFreeOnes) {
  PeerTable table(3);
  const IpAddress a = testing::address("10.0.0.1");
  const IpAddress b = testing::address("10.0.0.2");
  const IpAddress c = testing::address("10.0.0.3");
  EXPECT_EQ(table.record(a).slot, 0u);
  EXPECT_EQ(table.record(b).slot, 1u);
  EXPECT_EQ(table.record(c).slot, 2u);
  table.set_max_peers(1);
  EXPECT_EQ(table.max_peers(), 1u);
  EXPECT_EQ(table.record(a).slot, 0u);
  EXPECT_FALSE(table.record(b).slot);  // counts in "other" now
  EXPECT_EQ(table.estimated_resets(b), 2u);
  table.set_max_peers(2);
  const PeerTable::Assignment again = table.record(c);
  EXPECT_EQ(again.slot, 1u);
  EXPECT_TRUE(again.promoted);
}

TEST(PacketPipelineReconfigure, PeerAndResetCountsNeverGoDown) {
  prometheus::Registry registry;
  FlowTrackerOptions options;
  options.max_peers = 3;
  PassiveMetrics metrics(registry, options);
  PacketPipeline pipeline(LinkType::kLinuxSll2, options, &metrics);
  PacketTime t = 1700000000s;
  resets_from(pipeline, {"10.1.0.1", "10.1.0.2", "10.1.0.3"}, 4, t);
  EXPECT_EQ(sum(registry, "connwatch_tcp_peer_resets_total"), 12);
  EXPECT_EQ(peers(registry).size(), 4u);

  // The same options again: nothing moves.
  pipeline.reconfigure(options);
  EXPECT_EQ(peers(registry).size(), 4u);
  EXPECT_EQ(sum(registry, "connwatch_tcp_peer_resets_total", {{"peer", "10.1.0.2"}}), 4);

  // Fewer slots: the last peers' counts move to "other", the sum stays.
  options.max_peers = 1;
  options.ports = {9999};
  pipeline.reconfigure(options);
  EXPECT_EQ(sum(registry, "connwatch_tcp_peer_resets_total"), 12);
  EXPECT_EQ(peers(registry), (std::set<std::string>{"10.1.0.1", "other"}));
  EXPECT_EQ(sum(registry, "connwatch_tcp_peer_resets_total", {{"peer", "other"}}), 8);
  EXPECT_EQ(pipeline.snapshot().peers.size(), 2u);
  // A newly listed port has its series at once, at zero.
  EXPECT_EQ(sum(registry, "connwatch_tcp_resets_total", {{"port", "9999"}}), 0);

  // More slots again: a new peer takes a free one; counts keep adding up.
  options.max_peers = 3;
  pipeline.reconfigure(options);
  resets_from(pipeline, {"10.1.0.9"}, 2, t);
  EXPECT_EQ(sum(registry, "connwatch_tcp_peer_resets_total"), 14);
  EXPECT_EQ(sum(registry, "connwatch_tcp_peer_resets_total", {{"peer", "10.1.0.9"}}), 2);
  EXPECT_EQ(sum(registry, "connwatch_tcp_resets_total"), 14);
}

}  // namespace
}  // namespace connwatch::passive
