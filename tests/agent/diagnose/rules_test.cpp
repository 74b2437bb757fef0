// Each finding's rule over hand-built observations: it fires on the evidence SPEC §5 names, with
// the numbers in its evidence and summary, and stays quiet on a healthy host.
#include "agent/diagnose/rules.h"

#include <gtest/gtest.h>

#include <map>
#include <sstream>

#include "agent/diagnose/format.h"
#include "agent/diagnose/limits.h"
#include "agent/diagnose/own_endpoint.h"
#include "agent/diagnose/report.h"
#include "agent/diagnose/time_wait_counters.h"
#include "agent/diagnose/time_wait_tracker.h"

namespace connwatch::agent::diagnose {
namespace {

using active::Outcome;
using kernel::TcpEventCounter;
using namespace std::chrono_literals;

kernel::Endpoint endpoint(const char* text) { return *kernel::Endpoint::parse(text); }

config::Target target(const char* name, const char* url) {
  config::Target t;
  t.name = name;
  std::string error;
  t.url = *config::parse_target_url(url, error);
  t.url_text = url;
  return t;
}

// A quiet host: capture up, tables read, one healthy target.
Observations healthy() {
  Observations o;
  o.duration_seconds = 10;
  o.interface = "any";
  o.capture_up = true;
  o.passive.capture_up = true;
  for (auto* snap : {&o.kernel_start, &o.kernel_end}) {
    snap->sockets.emplace();
    snap->sockets->usable_ports = 28232;
    snap->port_range = kernel::EphemeralPortRange{32768, 60999, {}};
    snap->file_descriptors = kernel::FileDescriptorUsage{1000, 100000};
    for (auto c : kernel::kAllTcpEventCounters) snap->tcp_events[kernel::index_of(c)] = 100;
  }
  TargetObservation t;
  t.config = target("api", "http://10.0.0.5:8080/");
  t.probes.name = "api";
  t.probes.counts.attempts[active::index_of(Outcome::kSuccess)] = 10;
  t.probes.counts.requests_reused = 9;
  t.probes.addresses = {"10.0.0.5:8080"};
  t.idle_watched_seconds = 10;
  o.targets.push_back(t);
  return o;
}

std::vector<Finding> only(const std::vector<Finding>& all, FindingId id) {
  std::vector<Finding> out;
  for (const auto& f : all) {
    if (f.id == id) out.push_back(f);
  }
  return out;
}

void set_attempts(Observations& o, Outcome outcome, std::uint64_t n) {
  o.targets[0].probes.counts.attempts[active::index_of(outcome)] = n;
}

void grow(Observations& o, TcpEventCounter c, std::uint64_t by) {
  o.kernel_end.tcp_events[kernel::index_of(c)] =
      *o.kernel_start.tcp_events[kernel::index_of(c)] + by;
}

TEST(DiagnoseRules, AHealthyHostRaisesNothing) { EXPECT_TRUE(evaluate(healthy()).empty()); }

TEST(DiagnoseRules, EveryIdHasOneRuleAndADistinctName) {
  ASSERT_EQ(all_rules().size(), kAllFindingIds.size());
  std::set<std::string_view> names;
  for (std::size_t i = 0; i < kAllFindingIds.size(); ++i) {
    EXPECT_EQ(all_rules()[i].id, kAllFindingIds[i]);
    names.insert(to_string(kAllFindingIds[i]));
  }
  EXPECT_EQ(names.size(), kAllFindingIds.size());
  EXPECT_EQ(to_string(FindingId::kStalePooledConnection), "stale-pooled-connection");
}

TEST(DiagnoseRules, StalePooledConnectionComparesTheServersIdleCloseWithThePool) {
  Observations o = healthy();
  o.targets[0].config.pool.idle_timeout = 30s;
  o.targets[0].peer_idle_close_seconds = 4.02;
  o.targets[0].probes.counts.stale_resets = 2;
  const auto f = only(evaluate(o), FindingId::kStalePooledConnection);
  ASSERT_EQ(f.size(), 1U);
  EXPECT_EQ(f[0].severity, Severity::kInfo);  // the resends hid them: no request failed
  EXPECT_EQ(f[0].summary,
            "api: server closes idle connections after 4.0 s; connwatch's probe pool keeps them "
            "30 s, and 2 reused connections were already closed");
  EXPECT_EQ(f[0].evidence["suggested_idle_timeout"], "3s");
  EXPECT_DOUBLE_EQ(f[0].evidence["server_idle_close_seconds"].get<double>(), 4.02);
  EXPECT_NE(f[0].recommendation.find("set idle_timeout below 4.0 s"), std::string::npos);
}

TEST(DiagnoseRules, StalePooledConnectionStaysQuietWhenThePoolRetiresFirst) {
  Observations o = healthy();
  o.targets[0].config.pool.idle_timeout = 3s;
  o.targets[0].peer_idle_close_seconds = 4.0;
  EXPECT_TRUE(only(evaluate(o), FindingId::kStalePooledConnection).empty());
  o.targets[0].server_keep_alive = 2s;  // announced shorter than the pool keeps them
  EXPECT_EQ(only(evaluate(o), FindingId::kStalePooledConnection).size(), 1U);
}

TEST(DiagnoseRules, ASubSecondKeepAliveGetsAMillisecondSuggestion) {
  Observations o = healthy();
  o.targets[0].peer_idle_close_seconds = 1.0;
  const auto f = only(evaluate(o), FindingId::kStalePooledConnection);
  ASSERT_EQ(f.size(), 1U);
  EXPECT_EQ(f[0].evidence["suggested_idle_timeout"], "500ms");
}

TEST(DiagnoseRules, TimeWaitAccumulationNamesTheGrowthAndTheOwner) {
  Observations o = healthy();
  o.kernel_start.sockets->time_wait = {{endpoint("10.0.0.5:443"), 13}};
  o.kernel_end.sockets->time_wait = {{endpoint("10.0.0.5:443"), 2913},
                                     {endpoint("10.0.0.6:443"), 20}};
  // The samples counted 2,950 entries (some expired or were reused: more than the gauge's +2,900),
  // the capture 3,000: the 50 the samples missed are this destination's.
  o.time_wait_sampled_seconds = 10;
  o.destinations["10.0.0.5:443"].time_wait_entries = 2950;
  o.destinations["10.0.0.5:443"].owners = {{812, "java", 3, 7}};
  o.destinations["10.0.0.5:443"].own_sockets = 2;
  o.captured_time_wait_entries = 3000;
  const auto f = only(evaluate(o), FindingId::kTimeWaitAccumulation);
  ASSERT_EQ(f.size(), 1U);
  EXPECT_EQ(f[0].summary,
            "2,913 TIME_WAIT sockets to 10.0.0.5:443: 3,000 new in 10 s (300/s), opened by pid "
            "812 (java)");
  EXPECT_EQ(f[0].evidence["time_wait_end"], 2913);
  EXPECT_EQ(f[0].evidence["time_wait_entries"], 3000);
  EXPECT_EQ(f[0].evidence["per_second"], 300);
  EXPECT_EQ(f[0].evidence["rate_source"], "capture");
  EXPECT_EQ(f[0].evidence["lower_bound"], false);
  EXPECT_EQ(f[0].evidence["steady_state"], 18000);
  EXPECT_EQ(f[0].evidence["owners"][0]["pid"], 812);
  EXPECT_NE(f[0].evidence["attribution"].get<std::string>().find(
                "2 sockets of connwatch's own probes not counted"),
            std::string::npos);
  EXPECT_NE(f[0].recommendation.find("pid 812 (java) opens a connection per request"),
            std::string::npos);
}

TEST(DiagnoseRules, WithoutCaptureTheTimeWaitRateIsALowerBound) {
  Observations o = healthy();
  o.capture_up = false;
  o.kernel_end.sockets->time_wait = {{endpoint("10.0.0.5:443"), 500}};
  o.time_wait_sampled_seconds = 9.5;
  o.destinations["10.0.0.5:443"].time_wait_entries = 950;
  const auto f = only(evaluate(o), FindingId::kTimeWaitAccumulation);
  ASSERT_EQ(f.size(), 1U);
  EXPECT_EQ(f[0].evidence["lower_bound"], true);
  EXPECT_EQ(f[0].evidence["per_second"], 100);
  EXPECT_NE(f[0].summary.find("at least 950 new"), std::string::npos);
  EXPECT_NE(f[0].recommendation.find("not seen connecting or holding a live socket"),
            std::string::npos);
  EXPECT_EQ(f[0].recommendation.find("pid"), std::string::npos);
}

TEST(DiagnoseRules, PortReuseChurnNeedsRecycledTimeWaitAndARateAboveTheDrain) {
  Observations o = healthy();
  o.kernel_end.sockets->usable_ports = 1000;
  o.kernel_end.port_range = kernel::EphemeralPortRange{40000, 40999, {}};
  o.time_wait_sampled_seconds = 8;
  o.destinations["10.0.0.5:80"].time_wait_entries = 2472;  // 309/s
  o.destinations["10.0.0.5:80"].owners = {{4242, "python3", 40, 60}};
  o.captured_time_wait_entries = 2472;
  o.time_wait_counters_start.recycled = 100;
  o.time_wait_counters_end.recycled = 100;
  o.tcp_tw_reuse = 1;
  EXPECT_TRUE(only(evaluate(o), FindingId::kPortReuseChurn).empty());  // nothing recycled

  o.time_wait_counters_end.recycled = 2650;
  const auto f = only(evaluate(o), FindingId::kPortReuseChurn);
  ASSERT_EQ(f.size(), 1U);
  EXPECT_EQ(f[0].severity, Severity::kWarning);
  EXPECT_EQ(f[0].summary,
            "10.0.0.5:80: 309 new connections/s through 1,000 usable local ports, which TIME_WAIT "
            "drains at 16.7/s: kept going only by TIME_WAIT reuse (TWRecycled +2,550 in 10 s), "
            "from pid 4242 (python3)");
  EXPECT_EQ(f[0].evidence["tw_recycled"], 2550);
  EXPECT_EQ(f[0].evidence["per_second"], 309);
  EXPECT_EQ(f[0].evidence["port_range"], "40000-40999");
  EXPECT_EQ(f[0].evidence["seconds_to_fill_without_reuse"], 3.2);

  o.destinations["10.0.0.5:80"].time_wait_entries = 80;  // 10/s: TIME_WAIT drains faster
  o.captured_time_wait_entries = 80;
  EXPECT_TRUE(only(evaluate(o), FindingId::kPortReuseChurn).empty());
}

// A pod's churner seen from the host: another namespace's tables, its caller from the connect
// tracepoint; the finding names the namespace, the process and the counted rate.
TEST(DiagnoseRules, TimeWaitAndPortsInAnotherNamespaceNameItAndItsCaller) {
  Observations o = healthy();
  o.own_netns = "host";
  o.connect_trace = true;
  for (auto* snap : {&o.kernel_start, &o.kernel_end}) {
    kernel::NamespaceSnapshot pod;
    pod.inode = 4026532999;
    pod.name = "shop/cart-7d9f";
    pod.sockets.emplace();
    pod.sockets->usable_ports = 1000;
    pod.port_range = kernel::EphemeralPortRange{40000, 40999, {}};
    snap->namespaces.push_back(pod);
  }
  o.kernel_start.namespaces[0].sockets->time_wait = {{endpoint("10.96.0.10:80"), 200}};
  o.kernel_end.namespaces[0].sockets->time_wait = {{endpoint("10.96.0.10:80"), 950}};
  kernel::DestinationPortUsage usage;
  usage.destination = endpoint("10.96.0.10:80");
  usage.source = *kernel::IpAddress::parse("10.244.1.7");
  usage.in_use = 960;
  usage.utilization = 0.96;
  o.kernel_end.namespaces[0].sockets->ports_in_use = {usage};
  DestinationConnects c;
  c.netns = "shop/cart-7d9f";
  c.destination = "10.96.0.10:80";
  c.connects = 1500;
  c.owners = {{31337, "node", 0, 0, 1500}};
  o.connects["shop/cart-7d9f 10.96.0.10:80"] = c;

  const auto tw = only(evaluate(o), FindingId::kTimeWaitAccumulation);
  ASSERT_EQ(tw.size(), 1U);
  EXPECT_EQ(tw[0].summary,
            "950 TIME_WAIT sockets to 10.96.0.10:80 in netns shop/cart-7d9f: 1,500 new in 10 s "
            "(150/s), opened by pid 31337 (node)");
  EXPECT_EQ(tw[0].evidence["netns"], "shop/cart-7d9f");
  EXPECT_EQ(tw[0].evidence["rate_source"], "connect tracepoint");
  EXPECT_EQ(tw[0].evidence["lower_bound"], false);
  EXPECT_EQ(tw[0].evidence["owners"][0]["connects"], 1500);

  const auto ports = only(evaluate(o), FindingId::kEphemeralPortExhaustion);
  ASSERT_EQ(ports.size(), 1U);
  EXPECT_EQ(ports[0].severity, Severity::kCritical);
  EXPECT_EQ(ports[0].evidence["netns"], "shop/cart-7d9f");
  EXPECT_EQ(ports[0].evidence["port_range"], "40000-40999");
  EXPECT_NE(ports[0].summary.find("in netns shop/cart-7d9f uses 960 of 1,000"), std::string::npos);
  EXPECT_NE(ports[0].recommendation.find("ip_local_port_range of netns shop/cart-7d9f"),
            std::string::npos);

  // Without the tracepoint: the gauge's growth, a lower bound, and no one named.
  o.connect_trace = false;
  o.connect_trace_error = "Operation not permitted";
  o.connects.clear();
  const auto gauge = only(evaluate(o), FindingId::kTimeWaitAccumulation);
  ASSERT_EQ(gauge.size(), 1U);
  EXPECT_EQ(gauge[0].evidence["rate_source"], "TIME_WAIT gauge");
  EXPECT_EQ(gauge[0].evidence["time_wait_entries"], 750);
  EXPECT_EQ(gauge[0].evidence["lower_bound"], true);
  EXPECT_EQ(gauge[0].evidence["owners"], nlohmann::json::array());
  EXPECT_NE(gauge[0].evidence["attribution"].get<std::string>().find("Operation not permitted"),
            std::string::npos);
}

// The measured namespace: a steady churner whose TIME_WAIT gauge stays level (expiry balances
// entries) is still named, by the entries the samples counted.
TEST(DiagnoseRules, ASteadyChurnerIsNamedByItsCountedEntries) {
  Observations o = healthy();
  o.kernel_start.sockets->time_wait = {{endpoint("10.0.0.5:443"), 2900}};
  o.kernel_end.sockets->time_wait = {{endpoint("10.0.0.5:443"), 2910}};
  o.time_wait_sampled_seconds = 10;
  o.destinations["10.0.0.5:443"].time_wait_entries = 480;
  o.destinations["10.0.0.5:443"].owners = {{77, "curl-loop", 3, 2, 480}};
  const auto f = only(evaluate(o), FindingId::kTimeWaitAccumulation);
  ASSERT_EQ(f.size(), 1U);
  EXPECT_EQ(f[0].evidence["per_second"], 48);
  EXPECT_NE(f[0].summary.find("opened by pid 77 (curl-loop)"), std::string::npos);
  EXPECT_EQ(f[0].evidence["netns"], "");
}

TEST(DiagnoseRules, ALargeButSteadyTimeWaitIsNotAccumulation) {
  Observations o = healthy();
  o.kernel_start.sockets->time_wait = {{endpoint("10.0.0.5:443"), 2900}};
  o.kernel_end.sockets->time_wait = {{endpoint("10.0.0.5:443"), 2910}};
  EXPECT_TRUE(only(evaluate(o), FindingId::kTimeWaitAccumulation).empty());
}

TEST(DiagnoseRules, PortExhaustionIsWarningAt70AndCriticalAt90Percent) {
  Observations o = healthy();
  kernel::DestinationPortUsage usage;
  usage.destination = endpoint("10.0.0.5:443");
  usage.source = *kernel::IpAddress::parse("10.0.0.1");
  usage.in_use = 20000;
  usage.utilization = 20000.0 / 28232;
  o.kernel_end.sockets->ports_in_use = {usage};
  auto f = only(evaluate(o), FindingId::kEphemeralPortExhaustion);
  ASSERT_EQ(f.size(), 1U);
  EXPECT_EQ(f[0].severity, Severity::kWarning);
  EXPECT_EQ(f[0].summary,
            "10.0.0.5:443 uses 20,000 of 28,232 ephemeral ports (70%) from 10.0.0.1, no live owner "
            "seen (TIME_WAIT has none)");
  EXPECT_EQ(f[0].evidence["port_range"], "32768-60999");

  o.kernel_end.sockets->ports_in_use[0].utilization = 0.95;
  o.destinations["10.0.0.5:443"].owners = {{4242, "python3", 900, 10}};
  f = only(evaluate(o), FindingId::kEphemeralPortExhaustion);
  ASSERT_EQ(f.size(), 1U);
  EXPECT_EQ(f[0].severity, Severity::kCritical);
  EXPECT_NE(f[0].summary.find("held by pid 4242 (python3)"), std::string::npos);

  o.kernel_end.sockets->ports_in_use[0].utilization = 0.5;
  EXPECT_TRUE(only(evaluate(o), FindingId::kEphemeralPortExhaustion).empty());
}

TEST(DiagnoseRules, EaddrnotavailIsCriticalPortExhaustion) {
  Observations o = healthy();
  set_attempts(o, Outcome::kAddrNotAvailable, 3);
  const auto f = only(evaluate(o), FindingId::kEphemeralPortExhaustion);
  ASSERT_EQ(f.size(), 1U);
  EXPECT_EQ(f[0].severity, Severity::kCritical);
  EXPECT_EQ(f[0].evidence["addr_not_available"], 3);
}

TEST(DiagnoseRules, FdExhaustionNamesTheProcessNearItsLimit) {
  Observations o = healthy();
  o.processes_near_fd_limit = {{812, "java", 3900, 4096, {}, {}}};
  const auto f = only(evaluate(o), FindingId::kFdExhaustion);
  ASSERT_EQ(f.size(), 1U);
  EXPECT_EQ(f[0].severity, Severity::kCritical);
  EXPECT_EQ(f[0].summary, "pid 812 (java) has 3,900 of 4,096 file descriptors open (95%)");
}

TEST(DiagnoseRules, FdExhaustionGivesTheLeaksRateTimeLeftAndTheTargetItServes) {
  Observations o = healthy();
  o.processes_near_fd_limit = {{812, "java", 3900, 4096, {"api"}, {}}};
  o.fd_trends[812] = FdTrend{812, "java", 3820, 3900, 4096, 4};
  const auto f = only(evaluate(o), FindingId::kFdExhaustion);
  ASSERT_EQ(f.size(), 1U);
  EXPECT_EQ(f[0].summary,
            "pid 812 (java) has 3,900 of 4,096 file descriptors open (95%), growing 20.0/s: out "
            "in 9.8 s; it serves target api, whose connects then stall or fail");
  EXPECT_EQ(f[0].evidence["growth_per_second"], 20);
  EXPECT_EQ(f[0].evidence["seconds_to_exhaustion"], 9.8);
  EXPECT_EQ(f[0].evidence["serves_targets"][0], "api");
}

TEST(DiagnoseRules, EmfileOnAProbeAndAFullSystemTableAreFdExhaustion) {
  Observations o = healthy();
  set_attempts(o, Outcome::kFdExhausted, 1);
  o.kernel_end.file_descriptors = kernel::FileDescriptorUsage{85000, 100000};
  const auto f = only(evaluate(o), FindingId::kFdExhaustion);
  ASSERT_EQ(f.size(), 1U);
  EXPECT_EQ(f[0].severity, Severity::kCritical);  // EMFILE seen; 85% of fs.file-max merged in
  ASSERT_EQ(f[0].evidence["subjects"].size(), 2U);
  EXPECT_EQ(f[0].evidence["subjects"][1]["allocated"], 85000);
}

TEST(DiagnoseRules, ConnectionRefusedIsCriticalWhenEveryAttemptWasRefused) {
  Observations o = healthy();
  set_attempts(o, Outcome::kSuccess, 0);
  set_attempts(o, Outcome::kRefused, 9);
  const auto f = only(evaluate(o), FindingId::kConnectionRefused);
  ASSERT_EQ(f.size(), 1U);
  EXPECT_EQ(f[0].severity, Severity::kCritical);
  EXPECT_EQ(f[0].summary, "api: 9 of 9 connects to 10.0.0.5:8080 refused (RST in answer to SYN)");
}

TEST(DiagnoseRules, RefusalsOnTheWireBeyondTheProbesAreAHostWideFinding) {
  Observations o = healthy();
  o.passive.resets[passive::index_of(passive::ResetSender::kServer)]
                  [passive::index_of(passive::ResetPhase::kHandshake)] = 25;
  const auto f = only(evaluate(o), FindingId::kConnectionRefused);
  ASSERT_EQ(f.size(), 1U);
  EXPECT_EQ(f[0].evidence["refused_on_wire"], 25);
  EXPECT_EQ(f[0].evidence["per_second"], 2.5);
}

TEST(DiagnoseRules, TheProbesOwnRefusalsAreNotAHostWideFinding) {
  Observations o = healthy();
  set_attempts(o, Outcome::kSuccess, 0);
  set_attempts(o, Outcome::kRefused, 8);
  o.targets[0].keep_alive_counts.attempts[active::index_of(Outcome::kRefused)] = 1;
  o.passive.resets[passive::index_of(passive::ResetSender::kServer)]
                  [passive::index_of(passive::ResetPhase::kHandshake)] = 9;
  const auto f = only(evaluate(o), FindingId::kConnectionRefused);
  ASSERT_EQ(f.size(), 1U);
  EXPECT_EQ(f[0].evidence["target"], "api");
}

TEST(DiagnoseRules, ARefusalTheEndOfTheRunCutOffFromAProbeIsNotAnotherClient) {
  Observations o = healthy();
  set_attempts(o, Outcome::kSuccess, 0);
  set_attempts(o, Outcome::kRefused, 8);
  auto& handshake = o.passive.resets[passive::index_of(passive::ResetSender::kServer)]
                                    [passive::index_of(passive::ResetPhase::kHandshake)];
  handshake = 10;  // the target and its keep-alive stream may each have one attempt unrecorded
  EXPECT_EQ(only(evaluate(o), FindingId::kConnectionRefused).size(), 1U);
  handshake = 11;
  const auto f = only(evaluate(o), FindingId::kConnectionRefused);
  ASSERT_EQ(f.size(), 1U);  // one id once: the target's refusals and the wire's, merged
  EXPECT_EQ(f[0].evidence["refused_on_wire"], 11);
  EXPECT_EQ(f[0].evidence["target"], "api");
  ASSERT_EQ(f[0].evidence["subjects"].size(), 2U);
  EXPECT_EQ(f[0].more.size(), 1U);
}

TEST(DiagnoseRules, PeerResetMidstreamCountsServerResetsOfEstablishedConnections) {
  Observations o = healthy();
  o.passive.resets[passive::index_of(passive::ResetSender::kServer)]
                  [passive::index_of(passive::ResetPhase::kEstablished)] = 7;
  // Resets after a FIN (a stale pooled connection's write) are not midstream.
  o.passive.resets[passive::index_of(passive::ResetSender::kServer)]
                  [passive::index_of(passive::ResetPhase::kClosing)] = 4;
  passive::PeerResets peer;
  peer.peer = "10.0.0.5";
  peer.by_sender[passive::index_of(passive::ResetSender::kServer)] = 11;
  o.passive.peers = {peer};
  const auto f = only(evaluate(o), FindingId::kPeerResetMidstream);
  ASSERT_EQ(f.size(), 1U);
  EXPECT_EQ(f[0].summary,
            "7 established connections reset by the server end in 10 s, most by 10.0.0.5");
  EXPECT_EQ(f[0].evidence["peers"][0]["peer"], "10.0.0.5");
}

TEST(DiagnoseRules, MiddleboxResetQuotesBothTtls) {
  Observations o = healthy();
  o.passive.resets_suspected_middlebox = 3;
  o.passive.last_middlebox_reset = passive::MiddleboxReset{"10.0.0.5", 37, 64};
  const auto f = only(evaluate(o), FindingId::kMiddleboxResetSuspected);
  ASSERT_EQ(f.size(), 1U);
  EXPECT_EQ(f[0].summary,
            "3 resets carry TTL 37 while the packets of the same connection carry TTL 64 (peer "
            "10.0.0.5): a middlebox is resetting");
  EXPECT_EQ(f[0].evidence["reset_ttl"], 37);
}

TEST(DiagnoseRules, ProbeTimeoutsSayWhetherThePeerEverReset) {
  Observations o = healthy();
  set_attempts(o, Outcome::kSuccess, 0);
  set_attempts(o, Outcome::kTimeout, 4);
  const auto f = only(evaluate(o), FindingId::kProbeTimeouts);
  ASSERT_EQ(f.size(), 1U);
  EXPECT_EQ(f[0].severity, Severity::kCritical);
  EXPECT_EQ(f[0].summary,
            "api: 4 of 4 attempts to 10.0.0.5:8080 timed out with no RST from the peer");
  EXPECT_EQ(f[0].evidence["resets_from_peer"], 0);
}

TEST(DiagnoseRules, DnsAddressChangedReportsTheStaleConnections) {
  Observations o = healthy();
  o.targets[0].config = target("api", "http://api.internal:8080/");
  o.targets[0].stale_address = StaleAddress{{"10.0.0.5:8080"}, {"10.0.0.6:8080"}, 2, 4.5};
  const auto f = only(evaluate(o), FindingId::kDnsAddressChanged);
  ASSERT_EQ(f.size(), 1U);
  EXPECT_EQ(f[0].summary,
            "api: api.internal moved from 10.0.0.5:8080 to 10.0.0.6:8080 while 2 pooled "
            "connections stayed on the old address for 4.5 s");
  EXPECT_NE(f[0].recommendation.find("max_lifetime (now 300 s)"), std::string::npos);
}

TEST(DiagnoseRules, KernelCounterGrowthRaisesListenOverflowAndLocalAbort) {
  Observations o = healthy();
  grow(o, TcpEventCounter::kListenOverflows, 12);
  grow(o, TcpEventCounter::kListenDrops, 12);
  grow(o, TcpEventCounter::kTcpAbortOnData, 50);
  o.somaxconn = 4096;
  const auto listen = only(evaluate(o), FindingId::kListenOverflow);
  ASSERT_EQ(listen.size(), 1U);
  EXPECT_EQ(listen[0].evidence["listen_overflows"], 12);
  EXPECT_NE(listen[0].recommendation.find("net.core.somaxconn (now 4,096)"), std::string::npos);
  const auto abort = only(evaluate(o), FindingId::kLocalAbortUnreadData);
  ASSERT_EQ(abort.size(), 1U);
  EXPECT_EQ(abort[0].evidence["tcp_abort_on_data"], 50);
}

TEST(DiagnoseRules, AFewAbortsAreNoiseAndAMissingCounterIsNoGrowth) {
  Observations o = healthy();
  grow(o, TcpEventCounter::kTcpAbortOnData, 3);
  o.kernel_end.tcp_events[kernel::index_of(TcpEventCounter::kListenOverflows)].reset();
  EXPECT_TRUE(evaluate(o).empty());
}

// packet-loss (issue 23): the lossy destination named with its ratio and RTT, the clean one not,
// and the mtr/tcpdump commands filled in with its host and port.
TEST(DiagnoseRules, RetransmissionsToOneDestinationRaisePacketLossNamingIt) {
  auto o = healthy();
  grow(o, TcpEventCounter::kOutSegs, 100000);
  grow(o, TcpEventCounter::kRetransSegs, 3000);
  o.destination_loss["blue 10.0.0.7:9000"] = {"blue", "10.0.0.7:9000", 2900, 36000, 0.004, 0.02};
  o.destination_loss["blue 10.0.0.8:80"] = {"blue", "10.0.0.8:80", 0, 60000, 0.001, 0.001};
  const auto f = only(evaluate(o), FindingId::kPacketLoss);
  ASSERT_EQ(f.size(), 1U);
  EXPECT_EQ(f[0].severity, Severity::kCritical);  // 8 % to the destination
  EXPECT_NE(f[0].summary.find("10.0.0.7:9000"), std::string::npos) << f[0].summary;
  EXPECT_NE(f[0].summary.find("8%"), std::string::npos) << f[0].summary;
  EXPECT_NE(f[0].summary.find("RTT 4.0 ms mean, 20 ms max"), std::string::npos) << f[0].summary;
  EXPECT_EQ(f[0].summary.find("10.0.0.8"), std::string::npos) << f[0].summary;
  ASSERT_EQ(f[0].evidence["destinations"].size(), 1U);
  EXPECT_EQ(f[0].evidence["destinations"][0]["netns"], "blue");
  EXPECT_EQ(f[0].evidence["lost"], "data");
  EXPECT_NE(f[0].recommendation.find("mtr -T -P 9000 -c 100 -r 10.0.0.7"), std::string::npos);
  EXPECT_NE(f[0].recommendation.find("'host 10.0.0.7 and tcp port 9000'"), std::string::npos);
}

TEST(DiagnoseRules, PacketLossIsAWarningFromOnePercentAndSaysWhenSynsAreLost) {
  auto o = healthy();
  grow(o, TcpEventCounter::kOutSegs, 100000);
  grow(o, TcpEventCounter::kRetransSegs, 1500);
  grow(o, TcpEventCounter::kTcpSynRetrans, 12);
  const auto f = only(evaluate(o), FindingId::kPacketLoss);
  ASSERT_EQ(f.size(), 1U);
  EXPECT_EQ(f[0].severity, Severity::kWarning);
  EXPECT_EQ(f[0].evidence["lost"], "syn_and_data");
  EXPECT_NE(f[0].summary.find("12 SYNs retransmitted"), std::string::npos) << f[0].summary;
  EXPECT_NE(f[0].recommendation.find("tcp-syn"), std::string::npos);

  auto quiet = healthy();  // 0.5 %: not yet
  grow(quiet, TcpEventCounter::kOutSegs, 100000);
  grow(quiet, TcpEventCounter::kRetransSegs, 500);
  EXPECT_TRUE(only(evaluate(quiet), FindingId::kPacketLoss).empty());
}

TEST(DiagnoseRules, CaptureUnavailableIsInfoOnly) {
  Observations o = healthy();
  o.capture_up = false;
  o.capture_error = "any: You don't have permission to capture on that device";
  const auto f = evaluate(o);
  ASSERT_EQ(f.size(), 1U);
  EXPECT_EQ(f[0].id, FindingId::kCaptureUnavailable);
  EXPECT_EQ(f[0].severity, Severity::kInfo);
  o.capture_enabled = false;  // turned off on purpose: nothing to say
  EXPECT_TRUE(evaluate(o).empty());
}

TEST(DiagnoseRules, FindingsComeWorstFirst) {
  Observations o = healthy();
  o.capture_up = false;                      // info
  o.targets[0].peer_idle_close_seconds = 1;  // warning: a probe failed on a closed connection
  set_attempts(o, Outcome::kReset, 1);
  o.targets[0].probes.counts.results[active::index_of(active::ProbeResult::kExhausted)] = 1;
  o.processes_near_fd_limit = {{1, "init", 1000, 1024, {}, {}}};  // critical
  const auto f = evaluate(o);
  ASSERT_EQ(f.size(), 4U);  // the reset is also peer-reset-midstream, a warning
  EXPECT_EQ(f[0].severity, Severity::kCritical);
  EXPECT_EQ(f[1].severity, Severity::kWarning);
  EXPECT_EQ(f[2].severity, Severity::kWarning);
  EXPECT_EQ(f[3].severity, Severity::kInfo);
}

// SPEC §5: every failing attempt outcome maps to a finding, at warning or worse when every
// attempt of a target failed, info when retries hid the failures.
TEST(DiagnoseRules, EveryFailingOutcomeMapsToAFinding) {
  const std::map<Outcome, FindingId> expected{
      {Outcome::kRefused, FindingId::kConnectionRefused},
      {Outcome::kReset, FindingId::kPeerResetMidstream},
      {Outcome::kTimeout, FindingId::kProbeTimeouts},
      {Outcome::kDnsError, FindingId::kDnsResolutionFailed},
      {Outcome::kAddrNotAvailable, FindingId::kEphemeralPortExhaustion},
      {Outcome::kFdExhausted, FindingId::kFdExhaustion},
      {Outcome::kTlsError, FindingId::kTlsHandshakeFailed},
      {Outcome::kHttpStatus, FindingId::kHttpErrorStatus},
      {Outcome::kClosedEarly, FindingId::kClosedWithoutResponse},
  };
  for (const auto& [outcome, id] : expected) {
    Observations o = healthy();
    set_attempts(o, Outcome::kSuccess, 0);
    set_attempts(o, outcome, 19);
    o.targets[0].probes.counts.results[active::index_of(active::ProbeResult::kExhausted)] = 10;
    const auto all = evaluate(o);
    const auto f = only(all, id);
    ASSERT_EQ(f.size(), 1U) << active::to_string(outcome);
    EXPECT_EQ(f[0].severity, Severity::kCritical) << active::to_string(outcome);
    EXPECT_EQ(all[0].id, id) << active::to_string(outcome);  // the worst finding comes first
  }
}

TEST(DiagnoseRules, FailuresThatRetriesHidAreInfoAndFailedProbesAWarning) {
  Observations o = healthy();
  set_attempts(o, Outcome::kHttpStatus, 2);
  o.targets[0].failed_statuses = {{503, 2}};
  auto f = only(evaluate(o), FindingId::kHttpErrorStatus);
  ASSERT_EQ(f.size(), 1U);
  EXPECT_EQ(f[0].severity, Severity::kInfo);
  o.targets[0].probes.counts.results[active::index_of(active::ProbeResult::kExhausted)] = 1;
  f = only(evaluate(o), FindingId::kHttpErrorStatus);
  EXPECT_EQ(f[0].severity, Severity::kWarning);
}

TEST(DiagnoseRules, DnsResolutionFailedNamesTheHostAndTheResolversAnswer) {
  Observations o = healthy();
  o.targets[0].config = target("api", "http://api.intrenal:8080/");
  set_attempts(o, Outcome::kSuccess, 0);
  set_attempts(o, Outcome::kDnsError, 19);
  o.targets[0].errors[Outcome::kDnsError] = {"Host not found (authoritative)"};
  const auto f = only(evaluate(o), FindingId::kDnsResolutionFailed);
  ASSERT_EQ(f.size(), 1U);
  EXPECT_EQ(f[0].severity, Severity::kCritical);
  EXPECT_EQ(f[0].summary,
            "api: all 19 attempts could not resolve api.intrenal (Host not found "
            "(authoritative))");
  EXPECT_EQ(f[0].evidence["dns_error"], 19);
  EXPECT_NE(f[0].recommendation.find("getent hosts api.intrenal"), std::string::npos);
}

TEST(DiagnoseRules, TlsHandshakeFailedQuotesTheVerifyError) {
  Observations o = healthy();
  o.targets[0].config = target("api", "https://10.0.0.5:8443/");
  set_attempts(o, Outcome::kSuccess, 0);
  set_attempts(o, Outcome::kTlsError, 5);
  o.targets[0].errors[Outcome::kTlsError] = {"certificate verify failed"};
  const auto f = only(evaluate(o), FindingId::kTlsHandshakeFailed);
  ASSERT_EQ(f.size(), 1U);
  EXPECT_EQ(f[0].summary,
            "api: all 5 attempts failed the TLS handshake with 10.0.0.5:8443 (certificate verify "
            "failed)");
  EXPECT_EQ(f[0].evidence["errors"][0], "certificate verify failed");
}

TEST(DiagnoseRules, HttpErrorStatusListsTheCodesSeen) {
  Observations o = healthy();
  set_attempts(o, Outcome::kSuccess, 0);
  set_attempts(o, Outcome::kHttpStatus, 19);
  o.targets[0].failed_statuses = {{500, 2}, {503, 7}};
  const auto f = only(evaluate(o), FindingId::kHttpErrorStatus);
  ASSERT_EQ(f.size(), 1U);
  EXPECT_EQ(f[0].summary, "api: all 19 attempts answered 503, 500, expected 200");
  EXPECT_EQ(f[0].evidence["statuses"]["503"], 7);
  EXPECT_NE(f[0].recommendation.find("502/503/504"), std::string::npos);
}

TEST(DiagnoseRules, ClosedWithoutResponseSaysTheServerClosedAfterTheRequest) {
  Observations o = healthy();
  set_attempts(o, Outcome::kSuccess, 0);
  set_attempts(o, Outcome::kClosedEarly, 19);
  const auto f = only(evaluate(o), FindingId::kClosedWithoutResponse);
  ASSERT_EQ(f.size(), 1U);
  EXPECT_EQ(f[0].summary,
            "api: 10.0.0.5:8080 closed all 19 attempts after the request without answering");
}

TEST(DiagnoseRules, OneIdAppearsOnceWithEveryTargetsEvidence) {
  Observations o = healthy();
  set_attempts(o, Outcome::kSuccess, 0);
  set_attempts(o, Outcome::kRefused, 5);
  TargetObservation second = o.targets[0];
  second.config = target("db", "http://10.0.0.6:5432/");
  o.targets.push_back(second);
  const auto f = only(evaluate(o), FindingId::kConnectionRefused);
  ASSERT_EQ(f.size(), 1U);
  EXPECT_EQ(f[0].evidence["target"], "api");
  ASSERT_EQ(f[0].evidence["subjects"].size(), 2U);
  EXPECT_EQ(f[0].evidence["subjects"][1]["target"], "db");
  ASSERT_EQ(f[0].more.size(), 1U);
  EXPECT_EQ(f[0].more[0], "db: 5 of 5 connects to 10.0.0.6:5432 refused (RST in answer to SYN)");
  EXPECT_NE(f[0].recommendation.find("10.0.0.6:5432"), std::string::npos);
}

TEST(DiagnoseRules, TheProbesRefusalsAreNotShownAsAPeersEstablishedResets) {
  Observations o = healthy();
  set_attempts(o, Outcome::kRefused, 19);
  o.passive.resets[passive::index_of(passive::ResetSender::kServer)]
                  [passive::index_of(passive::ResetPhase::kHandshake)] = 19;
  o.passive.resets[passive::index_of(passive::ResetSender::kServer)]
                  [passive::index_of(passive::ResetPhase::kEstablished)] = 5;
  passive::PeerResets peer;
  peer.peer = "10.0.0.5";
  peer.by_sender[passive::index_of(passive::ResetSender::kServer)] = 24;
  o.passive.peers = {peer};
  const auto f = only(evaluate(o), FindingId::kPeerResetMidstream);
  ASSERT_EQ(f.size(), 1U);
  EXPECT_EQ(f[0].evidence["server_resets_established"], 5);
  EXPECT_EQ(f[0].evidence["peers"][0]["resets"], 5);
}

TEST(DiagnoseReport, TheHeadlineCountsEachSeverity) {
  Observations o = healthy();
  o.capture_up = false;
  o.processes_near_fd_limit = {{1, "init", 1000, 1024, {}, {}}};
  std::ostringstream text;
  write_text(text, o, evaluate(o));
  EXPECT_EQ(text.str().substr(0, text.str().find('\n')), "2 findings in 10 s: 1 critical, 1 info");
  EXPECT_NE(text.str().find("1 process near its limit"), std::string::npos);
  EXPECT_EQ(text.str().find("process(es)"), std::string::npos);
}

TEST(DiagnoseReport, ACheckTheRunWasTooShortForSaysSoAndSuggestsADuration) {
  Observations o = healthy();
  o.targets[0].config.pool.idle_timeout = 30s;
  o.targets[0].idle_watched_seconds = 9.6;
  const auto limits = run_limits(o);
  ASSERT_EQ(limits.size(), 1U);
  EXPECT_EQ(limits[0].suggested_duration_seconds, 35);
  std::ostringstream text;
  write_text(text, o, evaluate(o));
  EXPECT_NE(text.str().find("No problems found in 10 s."), std::string::npos);
  EXPECT_NE(text.str().find("run with --duration 35 to check"), std::string::npos);
  o.targets[0].peer_idle_close_seconds = 12;  // seen: nothing left unseen
  EXPECT_TRUE(run_limits(o).empty());
}

TEST(DiagnoseReport, TheJsonReportListsSkippedTargetsAndWhatWasNotSeen) {
  Observations o = healthy();
  o.skipped_targets = {{"self", "http://127.0.0.1:9873/-/healthy", "the agent's own endpoint"}};
  const auto j = to_json(o, evaluate(o));
  EXPECT_EQ(j["skipped_targets"][0]["name"], "self");
  EXPECT_TRUE(j["not_seen"].is_array());
}

TEST(DiagnoseOwnEndpoint, TargetsAtTheAgentsListenAddressAreSkipped) {
  std::string error;
  const auto url = [&](const char* text) { return *config::parse_target_url(text, error); };
  const config::ListenAddress any{"", 9873};
  const std::vector<std::string> local{"127.0.0.1", "10.0.0.1", "::1"};
  EXPECT_TRUE(points_at_agent(url("http://127.0.0.1:9873/-/healthy"), any, local));
  EXPECT_TRUE(points_at_agent(url("http://localhost:9873/metrics"), any, local));
  EXPECT_TRUE(points_at_agent(url("http://10.0.0.1:9873/"), any, local));
  EXPECT_TRUE(points_at_agent(url("http://[::1]:9873/"), any, local));
  EXPECT_FALSE(points_at_agent(url("http://10.0.0.2:9873/"), any, local));  // another host
  EXPECT_FALSE(points_at_agent(url("http://127.0.0.1:8080/"), any, local));
  const config::ListenAddress one{"10.0.0.1", 9873};
  EXPECT_TRUE(points_at_agent(url("http://10.0.0.1:9873/"), one, local));
  EXPECT_FALSE(points_at_agent(url("http://127.0.0.1:9873/"), one, local));
}

kernel::SocketRecord time_wait(const char* local, const char* remote, std::uint32_t left_ms) {
  kernel::SocketRecord s;
  s.state = kernel::TcpState::kTimeWait;
  s.local = endpoint(local);
  s.remote = endpoint(remote);
  s.expires_ms = left_ms;
  return s;
}

TEST(DiagnoseTimeWaitTracker, CountsEntriesReusesAndEarlyExitsNotTheGaugesNetChange) {
  TimeWaitTracker tracker;
  const auto t0 = TimeWaitTracker::Clock::time_point{} + std::chrono::hours(1);
  tracker.begin(t0);  // the first sample is the baseline: what stood before is not counted
  tracker.add(time_wait("10.0.0.1:40000", "10.0.0.5:80", 30000));
  tracker.end();
  tracker.begin(t0 + 100ms);
  tracker.add(time_wait("10.0.0.1:40000", "10.0.0.5:80", 29900));  // the same one
  tracker.add(time_wait("10.0.0.1:40001", "10.0.0.5:80", 60000));  // new
  tracker.add(time_wait("10.0.0.1:40002", "10.0.0.5:80", 60000));  // new
  tracker.end();
  tracker.begin(t0 + 200ms);
  tracker.add(time_wait("10.0.0.1:40000", "10.0.0.5:80", 60000));  // reused, TIME_WAIT again
  tracker.add(time_wait("10.0.0.1:40001", "10.0.0.5:80", 59900));
  tracker.end();  // 40002 left 59.9 s early: reused for a connection still open, or killed
  const auto& c = tracker.by_destination().at(endpoint("10.0.0.5:80"));
  EXPECT_EQ(c.entries, 3U);
  EXPECT_EQ(c.early_exits, 2U);
  EXPECT_EQ(c.now, 2U);
  EXPECT_EQ(c.peak, 3U);
  EXPECT_DOUBLE_EQ(tracker.seconds(), 0.2);
}

TEST(DiagnoseTimeWaitCounters, ReadsTwRecycledAndKilledFromTheTcpExtSection) {
  const auto c = parse_time_wait_counters(
      "TcpExt: SyncookiesSent TW TWRecycled TWKilled PAWSActive\n"
      "TcpExt: 0 50 2550 3 0\n"
      "IpExt: InNoRoutes\nIpExt: 0\n");
  EXPECT_EQ(c.entered, 50U);
  EXPECT_EQ(c.recycled, 2550U);
  EXPECT_EQ(c.killed, 3U);
  EXPECT_FALSE(parse_time_wait_counters("TcpExt: TW\nTcpExt: 1 2\n").entered);
}

TEST(DiagnoseFormat, NumbersReadAsAPersonWritesThem) {
  EXPECT_EQ(count(0), "0");
  EXPECT_EQ(count(999), "999");
  EXPECT_EQ(count(1000), "1,000");
  EXPECT_EQ(count(28232), "28,232");
  EXPECT_EQ(count(1234567), "1,234,567");
  EXPECT_EQ(seconds(1.04), "1.0 s");
  EXPECT_EQ(seconds(30), "30 s");
  EXPECT_EQ(percent(0.999), "99%");
  EXPECT_EQ(config_duration(std::chrono::milliseconds(800)), "800ms");
  EXPECT_EQ(config_duration(std::chrono::minutes(5)), "5m");
}

}  // namespace
}  // namespace connwatch::agent::diagnose
