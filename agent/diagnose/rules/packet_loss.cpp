// packet-loss: segments are being retransmitted (SPEC §5): RetransSegs/OutSegs of 1 % or more
// host-wide or to one destination is a warning; 5 % or more, or retransmission timeouts (RTO:
// the sender waited and heard nothing), is critical. Destinations come from their sockets'
// tcp_info (tcpi_total_retrans / tcpi_segs_out deltas, summed over the run), so the finding names
// where the loss is, with its ratio and RTT, and whether SYNs (handshakes) or data are lost.
#include <algorithm>
#include <iomanip>
#include <sstream>
#include <vector>

#include "agent/diagnose/format.h"
#include "agent/diagnose/rules.h"
#include "agent/diagnose/rules/common.h"

namespace connwatch::agent::diagnose {

namespace {

constexpr double kWarningRatio = 0.01;
constexpr double kCriticalRatio = 0.05;
// Below this many segments a ratio says nothing (one lost segment of 20 is 5 %).
constexpr std::uint64_t kMinSegments = 200;
constexpr std::size_t kNamed = 5;  // destinations named in the summary and evidence

double ratio(std::uint64_t retransmitted, std::uint64_t sent) {
  return sent == 0 ? 0 : static_cast<double>(retransmitted) / static_cast<double>(sent);
}

std::string port_of(const std::string& endpoint) {
  const auto colon = endpoint.rfind(':');
  return colon == std::string::npos ? std::string() : endpoint.substr(colon + 1);
}

// 0.23 ms, 4.1 ms, 120 ms: a LAN's RTT is well below a millisecond.
std::string milliseconds(double s) {
  const double ms = s * 1000;
  const int decimals = ms < 1 ? 2 : ms < 10 ? 1 : 0;
  std::ostringstream out;
  out << std::fixed << std::setprecision(decimals) << ms << " ms";
  return out.str();
}

}  // namespace

std::vector<Finding> packet_loss(const Observations& o) {
  const std::uint64_t retrans = growth(o, kernel::TcpEventCounter::kRetransSegs).value_or(0);
  const std::uint64_t out_segs = growth(o, kernel::TcpEventCounter::kOutSegs).value_or(0);
  const std::uint64_t syn_retrans = growth(o, kernel::TcpEventCounter::kTcpSynRetrans).value_or(0);
  const std::uint64_t timeouts = growth(o, kernel::TcpEventCounter::kTcpTimeouts).value_or(0);
  const double host_ratio = ratio(retrans, out_segs);
  const bool host_lossy = out_segs >= kMinSegments && host_ratio >= kWarningRatio;

  std::vector<const DestinationLoss*> lossy;
  for (const auto& [key, d] : o.destination_loss) {
    if (d.sent >= kMinSegments && ratio(d.retransmitted, d.sent) >= kWarningRatio) {
      lossy.push_back(&d);
    }
  }
  std::sort(lossy.begin(), lossy.end(), [](const DestinationLoss* a, const DestinationLoss* b) {
    return ratio(a->retransmitted, a->sent) > ratio(b->retransmitted, b->sent);
  });
  if (!host_lossy && lossy.empty() && syn_retrans == 0) return {};

  double worst = host_lossy ? host_ratio : 0;
  nlohmann::json destinations = nlohmann::json::array();
  for (std::size_t i = 0; i < lossy.size() && i < kNamed; ++i) {
    const auto& d = *lossy[i];
    const double r = ratio(d.retransmitted, d.sent);
    worst = std::max(worst, r);
    destinations.push_back({{"destination", d.destination},
                            {"netns", d.netns},
                            {"retransmitted_segments", d.retransmitted},
                            {"sent_segments", d.sent},
                            {"ratio", std::round(r * 10000) / 10000},
                            {"rtt_mean_seconds", d.rtt_mean_seconds},
                            {"rtt_max_seconds", d.rtt_max_seconds}});
  }

  Finding f;
  f.severity = worst >= kCriticalRatio || (timeouts > 0 && (host_lossy || !lossy.empty()))
                   ? Severity::kCritical
                   : Severity::kWarning;
  if (!lossy.empty()) {
    const auto& d = *lossy.front();
    f.summary = percent(ratio(d.retransmitted, d.sent)) + " of the segments to " + d.destination;
    if (!d.netns.empty()) f.summary += " (netns " + d.netns + ")";
    f.summary += " were retransmitted (" + count(d.retransmitted) + " of " + count(d.sent) + ")";
    if (d.rtt_mean_seconds > 0) {
      f.summary += ", RTT " + milliseconds(d.rtt_mean_seconds) + " mean, " +
                   milliseconds(d.rtt_max_seconds) + " max";
    }
    if (lossy.size() > 1)
      f.summary +=
          "; " + plural(lossy.size() - 1, "more destination", "more destinations") + " lossy";
  } else if (host_lossy) {
    f.summary = percent(host_ratio) + " of the segments this host sent were retransmitted (" +
                count(retrans) + " of " + count(out_segs) + ")";
  } else {
    f.summary = plural(syn_retrans, "SYN was", "SYNs were") + " retransmitted: handshakes are lost";
  }
  if (syn_retrans > 0 && (host_lossy || !lossy.empty())) {
    f.summary += "; " + plural(syn_retrans, "SYN", "SYNs") + " retransmitted";
  }
  const bool data_lost = retrans > syn_retrans;
  f.evidence = {{"retransmitted_segments", retrans},
                {"sent_segments", out_segs},
                {"ratio", std::round(host_ratio * 10000) / 10000},
                {"syn_retransmits", syn_retrans},
                {"rto_timeouts", timeouts},
                {"lost", syn_retrans > 0 && !data_lost ? "syn"
                         : syn_retrans > 0             ? "syn_and_data"
                                                       : "data"},
                {"destinations", destinations}};

  std::string where = "the path to the destination";
  std::string host = "HOST";
  std::string port = "PORT";
  if (!lossy.empty()) {
    host = address_of(lossy.front()->destination);
    port = port_of(lossy.front()->destination);
    where = "the path to " + lossy.front()->destination;
  }
  f.recommendation =
      "look at " + where +
      ": a lossy link or NIC (`ethtool -S IFACE | grep -iE 'drop|err|miss'` on both ends), a "
      "firewall dropping (`iptables -L -v -n`, `nft list ruleset`: DROP counters that move), "
      "conntrack INVALID drops (`conntrack -S`: invalid, insert_failed, drop), or a congested "
      "hop; trace it with `mtr -T -P " +
      port + " -c 100 -r " + host + "` and capture with `tcpdump -ni any -w loss.pcap 'host " +
      host + " and tcp port " + port + "'` (retransmissions show as repeated sequence numbers)";
  if (syn_retrans > 0) {
    f.recommendation += "; SYNs are lost too: `tcpdump -ni any 'host " + host + " and tcp port " +
                        port +
                        " and tcp[tcpflags] & tcp-syn != 0'` shows whether the SYN-ACK comes "
                        "back (a full conntrack table or SYN backlog drops SYNs silently)";
  }
  return {f};
}

}  // namespace connwatch::agent::diagnose
