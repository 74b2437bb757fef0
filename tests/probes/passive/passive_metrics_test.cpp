#include "probes/passive/passive_metrics.h"

#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>

#include "probes/passive/packet_pipeline.h"
#include "tests/probes/passive/packet_builder.h"

namespace connwatch::passive {
namespace {

using namespace std::chrono_literals;
using testing::frame;
using testing::PacketSpec;

struct FamilyShape {
  prometheus::MetricType type;
  std::set<std::string> labels;
};

std::map<std::string, FamilyShape> shapes(prometheus::Registry& registry) {
  std::map<std::string, FamilyShape> out;
  for (const prometheus::MetricFamily& family : registry.Collect()) {
    FamilyShape shape{family.type, {}};
    for (const prometheus::ClientMetric& metric : family.metric) {
      for (const prometheus::ClientMetric::Label& label : metric.label) {
        shape.labels.insert(label.name);
      }
    }
    out[family.name] = shape;
  }
  return out;
}

// The value of one series, or -1 when it does not exist.
double value(prometheus::Registry& registry, const std::string& name,
             const std::map<std::string, std::string>& labels) {
  for (const prometheus::MetricFamily& family : registry.Collect()) {
    if (family.name != name) continue;
    for (const prometheus::ClientMetric& metric : family.metric) {
      std::map<std::string, std::string> have;
      for (const auto& label : metric.label) have[label.name] = label.value;
      if (have != labels) continue;
      return family.type == prometheus::MetricType::Gauge ? metric.gauge.value
                                                          : metric.counter.value;
    }
  }
  return -1;
}

std::set<std::string> label_values(prometheus::Registry& registry, const std::string& name,
                                   const std::string& label) {
  std::set<std::string> out;
  for (const prometheus::MetricFamily& family : registry.Collect()) {
    if (family.name != name) continue;
    for (const prometheus::ClientMetric& metric : family.metric) {
      for (const auto& l : metric.label) {
        if (l.name == label) out.insert(l.value);
      }
    }
  }
  return out;
}

// Feeds one SLL2 packet per spec through a pipeline, 1 ms apart.
void feed(PacketPipeline& pipeline, const std::vector<PacketSpec>& specs) {
  PacketTime t = std::chrono::seconds(1700000000);
  for (const PacketSpec& spec : specs) {
    const std::vector<std::uint8_t> bytes = frame(LinkType::kLinuxSll2, spec);
    t += 1ms;
    pipeline.on_packet(bytes, t);
  }
  pipeline.flush();
}

PacketSpec packet(std::uint16_t client_port, std::uint16_t server_port, std::uint8_t flags,
                  bool from_client, std::uint32_t seq, std::uint32_t ack = 0,
                  const std::string& client = "10.0.0.1") {
  PacketSpec spec;
  spec.src = from_client ? client : "10.0.0.2";
  spec.dst = from_client ? "10.0.0.2" : client;
  spec.src_port = from_client ? client_port : server_port;
  spec.dst_port = from_client ? server_port : client_port;
  spec.flags = flags;
  spec.seq = seq;
  spec.ack = ack;
  return spec;
}

TEST(PassiveMetrics, RegistersExactlyThePassiveFamiliesOfTheSpec) {
  prometheus::Registry registry;
  PassiveMetrics metrics(registry, {});
  using prometheus::MetricType;
  const std::map<std::string, FamilyShape> expected = {
      {"connwatch_tcp_connections_total", {MetricType::Counter, {"port"}}},
      {"connwatch_tcp_resets_total", {MetricType::Counter, {"sender", "phase", "port"}}},
      {"connwatch_tcp_peer_resets_total", {MetricType::Counter, {"peer", "sender"}}},
      {"connwatch_tcp_resets_suspected_middlebox_total", {MetricType::Counter, {"port"}}},
      {"connwatch_tcp_time_wait_entries_total", {MetricType::Counter, {"side", "port"}}},
      {"connwatch_tcp_closes_total", {MetricType::Counter, {"how", "port"}}},
      {"connwatch_capture_up", {MetricType::Gauge, {}}},
      {"connwatch_capture_packets_total", {MetricType::Counter, {}}},
      {"connwatch_capture_dropped_packets_total", {MetricType::Counter, {"where"}}},
      {"connwatch_capture_flows", {MetricType::Gauge, {}}},
      {"connwatch_capture_flows_evicted_total", {MetricType::Counter, {}}},
      {"connwatch_capture_malformed_packets_total", {MetricType::Counter, {"reason"}}},
  };
  const auto actual = shapes(registry);
  ASSERT_EQ(actual.size(), expected.size());
  for (const auto& [name, shape] : expected) {
    ASSERT_TRUE(actual.contains(name)) << name;
    EXPECT_EQ(actual.at(name).type, shape.type) << name;
    EXPECT_EQ(actual.at(name).labels, shape.labels) << name;
  }
  EXPECT_EQ(label_values(registry, "connwatch_capture_dropped_packets_total", "where"),
            (std::set<std::string>{"kernel", "interface"}));
  EXPECT_EQ(label_values(registry, "connwatch_capture_malformed_packets_total", "reason"),
            (std::set<std::string>{"truncated", "malformed"}));
}

TEST(PassiveMetrics, CountsARefusedConnectionUnderItsServerPort) {
  prometheus::Registry registry;
  PassiveMetrics metrics(registry, {});
  PacketPipeline pipeline(LinkType::kLinuxSll2, {}, &metrics);
  feed(pipeline, {packet(40000, 443, tcp_flags::kSyn, true, 1),
                  packet(40000, 443, tcp_flags::kRst | tcp_flags::kAck, false, 0, 2)});
  EXPECT_EQ(value(registry, "connwatch_tcp_resets_total",
                  {{"sender", "server"}, {"phase", "handshake"}, {"port", "443"}}),
            1);
  EXPECT_EQ(value(registry, "connwatch_tcp_closes_total", {{"how", "reset"}, {"port", "443"}}), 1);
  EXPECT_EQ(value(registry, "connwatch_tcp_connections_total", {{"port", "443"}}), 0);
  EXPECT_EQ(value(registry, "connwatch_capture_packets_total", {}), 2);
  EXPECT_EQ(value(registry, "connwatch_tcp_peer_resets_total",
                  {{"peer", "10.0.0.2"}, {"sender", "server"}}),
            1);
}

TEST(PassiveMetrics, CountsTruncatedAndMalformedPacketsApart) {
  prometheus::Registry registry;
  PassiveMetrics metrics(registry, {});
  PacketPipeline pipeline(LinkType::kRaw, {}, &metrics);
  std::vector<std::uint8_t> bytes = frame(LinkType::kRaw, PacketSpec{});
  pipeline.on_packet(std::span(bytes).first(30), PacketTime(1s));
  bytes[0] = 0x43;  // IHL 3
  pipeline.on_packet(bytes, PacketTime(2s));
  pipeline.flush();
  EXPECT_EQ(value(registry, "connwatch_capture_malformed_packets_total", {{"reason", "truncated"}}),
            1);
  EXPECT_EQ(value(registry, "connwatch_capture_malformed_packets_total", {{"reason", "malformed"}}),
            1);
  EXPECT_EQ(pipeline.snapshot().truncated, 1u);
  EXPECT_EQ(pipeline.snapshot().malformed, 1u);
}

TEST(PassiveMetrics, NeverMakesAnEphemeralPortALabelValue) {
  prometheus::Registry registry;
  FlowTrackerOptions options;
  options.ports = {8443};
  PassiveMetrics metrics(registry, options);
  PacketPipeline pipeline(LinkType::kLinuxSll2, options, &metrics);
  std::vector<PacketSpec> specs;
  for (std::uint16_t i = 0; i < 200; ++i) {
    const auto client_port = static_cast<std::uint16_t>(33000 + i);
    const auto server_port = static_cast<std::uint16_t>(i % 2 ? 9000 + i : 8443);
    const std::uint32_t isn = 1000u * i + 1;  // each connection its own sequence numbers
    specs.push_back(packet(client_port, server_port, tcp_flags::kSyn, true, isn));
    specs.push_back(packet(client_port, server_port, tcp_flags::kSyn | tcp_flags::kAck, false,
                           900000u + i, isn + 1));
    specs.push_back(packet(client_port, server_port, tcp_flags::kRst, true, isn + 1));
  }
  feed(pipeline, specs);
  for (const char* family :
       {"connwatch_tcp_connections_total", "connwatch_tcp_resets_total",
        "connwatch_tcp_closes_total", "connwatch_tcp_time_wait_entries_total"}) {
    EXPECT_EQ(label_values(registry, family, "port"), (std::set<std::string>{"8443", "other"}))
        << family;
  }
  EXPECT_EQ(value(registry, "connwatch_tcp_connections_total", {{"port", "other"}}), 100);
  EXPECT_EQ(value(registry, "connwatch_tcp_connections_total", {{"port", "8443"}}), 100);
}

TEST(PassiveMetrics, KeepsPeerSeriesBoundedByMaxPeers) {
  prometheus::Registry registry;
  FlowTrackerOptions options;
  options.max_peers = 3;
  PassiveMetrics metrics(registry, options);
  PacketPipeline pipeline(LinkType::kLinuxSll2, options, &metrics);
  std::vector<PacketSpec> specs;
  for (int i = 0; i < 50; ++i) {
    const std::string client = "10.1.0." + std::to_string(i + 1);
    PacketSpec rst = packet(40000, 443, tcp_flags::kRst, true, 5000u * i + 5, 0, client);
    rst.pkttype = 0;  // incoming: the client is the remote peer
    specs.push_back(rst);
  }
  feed(pipeline, specs);
  const std::set<std::string> peers =
      label_values(registry, "connwatch_tcp_peer_resets_total", "peer");
  EXPECT_EQ(peers.size(), 4u);  // three peers + other
  EXPECT_TRUE(peers.contains("other"));
  EXPECT_EQ(
      value(registry, "connwatch_tcp_peer_resets_total", {{"peer", "other"}, {"sender", "client"}}),
      47);
  const PassiveSnapshot snapshot = pipeline.snapshot();
  ASSERT_EQ(snapshot.peers.size(), 4u);
  EXPECT_EQ(snapshot.peers.back().peer, "other");
  EXPECT_EQ(snapshot.peers.back().total(), 47u);
}

TEST(PassiveMetrics, PassesPromtoolCheckMetrics) {
  if (access("/usr/bin/promtool", X_OK) != 0) GTEST_SKIP() << "promtool not installed";
  prometheus::Registry registry;
  PassiveMetrics metrics(registry, {});
  PacketPipeline pipeline(LinkType::kLinuxSll2, {}, &metrics);
  feed(pipeline, {packet(40000, 80, tcp_flags::kSyn, true, 1),
                  packet(40000, 80, tcp_flags::kRst | tcp_flags::kAck, false, 0, 2)});
  std::ostringstream text;
  prometheus::TextSerializer().Serialize(text, registry.Collect());
  FILE* promtool = popen("/usr/bin/promtool check metrics > /tmp/passive_promtool.out 2>&1", "w");
  ASSERT_NE(promtool, nullptr);
  fputs(text.str().c_str(), promtool);
  const int status = pclose(promtool);
  std::ifstream report("/tmp/passive_promtool.out");
  const std::string lint((std::istreambuf_iterator<char>(report)),
                         std::istreambuf_iterator<char>());
  EXPECT_EQ(status, 0) << lint << "\n" << text.str();
}

}  // namespace
}  // namespace connwatch::passive

namespace connwatch::passive {
namespace {

// Two pipelines feeding one PassiveMetrics, as LiveCapture's threads do (capture.threads = 2).
TEST(PassiveMetrics, PipelinesSharingMetricsSumTheirFlowsAndKeepOnePeerTopK) {
  prometheus::Registry registry;
  FlowTrackerOptions options;
  options.max_peers = 1;
  PassiveMetrics metrics(registry, options);
  auto peers = std::make_shared<PeerResetCounts>(options.max_peers, &metrics);
  auto first = std::make_unique<PacketPipeline>(LinkType::kLinuxSll2, options, &metrics, peers);
  PacketPipeline second(LinkType::kLinuxSll2, options, &metrics, peers);
  // Refused connections: 2 from the server 10.0.0.2 to client A on the first pipeline, 3 to
  // client B on the second; half-open SYNs leave flows in both tables.
  std::vector<PacketSpec> on_first;
  std::vector<PacketSpec> on_second;
  for (std::uint16_t i = 0; i < 5; ++i) {
    auto& specs = i < 2 ? on_first : on_second;
    const std::string client = i < 2 ? "10.0.0.10" : "10.0.0.11";
    const auto port = static_cast<std::uint16_t>(40000 + i);
    const std::uint32_t isn = 1000u * i + 1;  // distinct numbers: no duplicate of another
    specs.push_back(packet(port, 443, tcp_flags::kSyn, true, isn, 0, client));
    specs.push_back(
        packet(port, 443, tcp_flags::kRst | tcp_flags::kAck, false, 0, isn + 1, client));
  }
  on_first.push_back(packet(41000, 443, tcp_flags::kSyn, true, 70001));
  on_second.push_back(packet(41001, 443, tcp_flags::kSyn, true, 70002));
  on_second.push_back(packet(41002, 443, tcp_flags::kSyn, true, 70003));
  feed(*first, on_first);
  feed(second, on_second);

  const double flows = static_cast<double>(first->snapshot().flows + second.snapshot().flows);
  EXPECT_GE(flows, 3);
  EXPECT_EQ(value(registry, "connwatch_capture_flows", {}), flows);
  EXPECT_EQ(value(registry, "connwatch_capture_packets_total", {}), 13);
  EXPECT_EQ(value(registry, "connwatch_tcp_resets_total",
                  {{"sender", "server"}, {"phase", "handshake"}, {"port", "443"}}),
            5);
  // One slot for the whole capture: both pipelines see the same peer series and counts.
  EXPECT_EQ(label_values(registry, "connwatch_tcp_peer_resets_total", "peer").size(), 2u);
  EXPECT_EQ(first->snapshot().peers, second.snapshot().peers);
  double peer_sum = 0;
  for (const auto& peer : second.snapshot().peers) peer_sum += static_cast<double>(peer.total());
  EXPECT_EQ(peer_sum, 5);

  PassiveSnapshot total;
  accumulate(total, first->snapshot());
  accumulate(total, second.snapshot());
  EXPECT_EQ(total.packets, 13u);
  EXPECT_EQ(total.resets_total(), 5u);
  EXPECT_EQ(static_cast<double>(total.flows), flows);

  // A pipeline that goes (a reopen with another thread count) takes its flows out of the gauge.
  const auto second_flows = static_cast<double>(second.snapshot().flows);
  first.reset();
  EXPECT_EQ(value(registry, "connwatch_capture_flows", {}), second_flows);
}

}  // namespace
}  // namespace connwatch::passive
