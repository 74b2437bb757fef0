// What several rules read the same way: a target's attempts by outcome, a kernel counter's growth
// over the run.
#pragma once

#include <cmath>
#include <cstdint>
#include <numeric>
#include <optional>
#include <string>

#include "agent/diagnose/finding.h"
#include "agent/diagnose/format.h"
#include "agent/diagnose/observations.h"
#include "probes/active/outcome.h"
#include "probes/kernel/tcp_event_counter.h"
#include "probes/passive/flow_labels.h"

namespace connwatch::agent::diagnose {

inline std::uint64_t attempts(const TargetObservation& t, active::Outcome outcome) {
  return t.probes.counts.attempts[active::index_of(outcome)];
}

inline std::uint64_t attempts(const TargetObservation& t) {
  const auto& a = t.probes.counts.attempts;
  return std::accumulate(a.begin(), a.end(), std::uint64_t{0});
}

// Probes (all attempts with their retries) that ended failed.
inline std::uint64_t failed_probes(const TargetObservation& t) {
  const auto& r = t.probes.counts.results;
  return r[active::index_of(active::ProbeResult::kExhausted)] +
         r[active::index_of(active::ProbeResult::kNotRetryable)] +
         r[active::index_of(active::ProbeResult::kBudgetDenied)];
}

// How bad a target's failed attempts are (SPEC §5): critical when no attempt succeeded, warning
// when a probe failed, info when retries hid every failure (no request failed).
inline Severity failure_severity(const TargetObservation& t) {
  if (attempts(t, active::Outcome::kSuccess) == 0 && attempts(t) > 0) return Severity::kCritical;
  return failed_probes(t) > 0 ? Severity::kWarning : Severity::kInfo;
}

// "every one of 19 attempts" / "7 of 19 attempts".
inline std::string of_attempts(std::uint64_t n, std::uint64_t total) {
  if (n == total) return n == 1 ? "the only attempt" : "all " + count(total) + " attempts";
  return count(n) + " of " + count(total) + (total == 1 ? " attempt" : " attempts");
}

// The first error texts seen for an outcome, joined: "certificate verify failed; ...".
inline std::string errors_text(const TargetObservation& t, active::Outcome outcome) {
  std::string out;
  if (const auto it = t.errors.find(outcome); it != t.errors.end()) {
    for (const auto& e : it->second) out += (out.empty() ? "" : "; ") + e;
  }
  return out;
}

inline nlohmann::json errors_json(const TargetObservation& t, active::Outcome outcome) {
  const auto it = t.errors.find(outcome);
  return it == t.errors.end() ? nlohmann::json::array() : nlohmann::json(it->second);
}

// How much a kernel counter grew between the start and end snapshots; nullopt when either side
// could not read it. A counter that went down (namespace recreated) counts as no growth.
inline std::optional<std::uint64_t> growth(const Observations& o, kernel::TcpEventCounter counter) {
  const auto& start = o.kernel_start.tcp_events[kernel::index_of(counter)];
  const auto& end = o.kernel_end.tcp_events[kernel::index_of(counter)];
  if (!start || !end) return std::nullopt;
  return *end >= *start ? *end - *start : 0;
}

// Rounded to 0.01: evidence for a person, not a measurement series.
inline double per_second(std::uint64_t n, double duration_seconds) {
  if (duration_seconds <= 0) return 0;
  return std::round(static_cast<double>(n) / duration_seconds * 100) / 100;
}

// TIME_WAIT entries to one destination, counted (SPEC §5: rates come from what was counted, not
// from the net change of the gauge, which expiry and reuse keep down). The sampler counts the
// destination's TIME_WAIT sockets as they appear (a lower bound: one that entered and left
// between two samples is missed); with capture up, the capture's count of TIME_WAIT entries on
// this host's client side by the end of the run says how many the samples missed, and those are
// shared out over the sampled destinations by their counts.
struct TimeWaitRate {
  std::uint64_t entries = 0;
  double per_second = 0;
  bool lower_bound = true;  // capture down: the samples' count only
  std::string source;       // "capture" or "sock_diag samples"
};

inline std::optional<TimeWaitRate> time_wait_rate(const Observations& o,
                                                  const std::string& destination) {
  const auto it = o.destinations.find(destination);
  if (it == o.destinations.end()) return std::nullopt;
  const std::uint64_t sampled = it->second.time_wait_entries;
  TimeWaitRate r;
  r.entries = sampled;
  r.source = "sock_diag samples";
  if (o.capture_up && o.captured_time_wait_entries) {
    std::uint64_t all_sampled = 0;
    for (const auto& [d, a] : o.destinations) all_sampled += a.time_wait_entries;
    const std::uint64_t captured = *o.captured_time_wait_entries;
    if (all_sampled > 0 && captured > all_sampled) {
      const double share = static_cast<double>(sampled) / static_cast<double>(all_sampled);
      r.entries = sampled + static_cast<std::uint64_t>(
                                std::llround(static_cast<double>(captured - all_sampled) * share));
    }
    r.lower_bound = false;
    r.source = "capture";
  }
  const double seconds =
      o.time_wait_sampled_seconds > 0 ? o.time_wait_sampled_seconds : o.duration_seconds;
  r.per_second = per_second(r.entries, seconds);
  return r;
}

// The processes behind a destination's connections in one network namespace ("" or own_netns:
// the measured one), most first, never connwatch: the connect tracepoint's callers (by
// connects), then, in the measured namespace, the processes sampled holding its live sockets.
inline std::vector<SocketHolder> owners_of(const Observations& o, const std::string& destination,
                                           const std::string& netns = "") {
  const bool self = netns.empty() || netns == o.own_netns;
  if (self) {
    const auto it = o.destinations.find(destination);
    if (it != o.destinations.end() && !it->second.owners.empty()) return it->second.owners;
  }
  const auto it = o.connects.find((self ? o.own_netns : netns) + " " + destination);
  if (it == o.connects.end()) return {};
  return it->second.owners;
}

// Connects to a destination the tracepoint counted (connwatch's own left out); nullopt when the
// tracepoint was off.
inline std::optional<std::uint64_t> connects_to(const Observations& o,
                                                const std::string& destination,
                                                const std::string& netns = "") {
  if (!o.connect_trace) return std::nullopt;
  const auto it = o.connects.find((netns.empty() ? o.own_netns : netns) + " " + destination);
  return it == o.connects.end() ? 0 : it->second.connects;
}

// "pid 4242 (python3)", the process behind most of a destination's connections; "" when none
// was seen.
inline std::string owner_text(const Observations& o, const std::string& destination,
                              const std::string& netns = "") {
  const auto owners = owners_of(o, destination, netns);
  if (owners.empty()) return "";
  const auto& top = owners.front();
  return "pid " + std::to_string(top.pid) + " (" + top.comm + ")";
}

inline nlohmann::json owners_json(const Observations& o, const std::string& destination,
                                  const std::string& netns = "") {
  nlohmann::json owners = nlohmann::json::array();
  for (const auto& h : owners_of(o, destination, netns)) {
    owners.push_back({{"pid", h.pid},
                      {"comm", h.comm},
                      {"connects", h.connects},
                      {"sockets", h.sockets},
                      {"samples", h.samples}});
  }
  return owners;
}

// How owners were attributed, for the evidence.
inline std::string attribution(const Observations& o, const std::string& destination,
                               const std::string& netns = "") {
  std::string text;
  if (o.connect_trace) {
    text =
        "every connect() on the host with its caller (the sock:inet_sock_set_state "
        "tracepoint)";
    if (o.connect_trace_lost > 0) {
      text += ", " + plural(o.connect_trace_lost, "event", "events") +
              " lost to a full trace buffer (counts are lower bounds)";
    }
  } else {
    text = "connect tracepoint unavailable (" + o.connect_trace_error + ")";
  }
  if (!netns.empty() && netns != o.own_netns) return text;
  const auto it = o.destinations.find(destination);
  const std::uint64_t samples = it == o.destinations.end() ? 0 : it->second.owner_samples;
  const std::uint64_t own = it == o.destinations.end() ? 0 : it->second.own_sockets;
  text += "; owners of the live sockets to " + destination + " in " +
          plural(samples, "sample", "samples") +
          " (sock_diag inode matched to /proc/<pid>/fd); TIME_WAIT sockets have no owner";
  if (own > 0) {
    text += "; " + plural(own, "socket", "sockets") + " of connwatch's own probes not counted";
  }
  return text;
}

// One network namespace's socket tables at the start and the end of the run: the measured one
// (kernel_start/end.sockets, netns = own_netns) and every other namespace read (SPEC §4).
struct NamespaceTables {
  std::string netns;
  bool self = false;
  const kernel::SocketTableSummary* start = nullptr;  // nullptr: not read at the start
  const kernel::SocketTableSummary* end = nullptr;
  std::optional<kernel::EphemeralPortRange> port_range;
};

inline std::vector<NamespaceTables> namespace_tables(const Observations& o) {
  std::vector<NamespaceTables> out;
  if (o.kernel_end.sockets) {
    out.push_back({o.own_netns, true, o.kernel_start.sockets ? &*o.kernel_start.sockets : nullptr,
                   &*o.kernel_end.sockets, o.kernel_end.port_range});
  }
  for (const auto& ns : o.kernel_end.namespaces) {
    if (ns.self || !ns.sockets) continue;
    NamespaceTables t{ns.name, false, nullptr, &*ns.sockets, ns.port_range};
    for (const auto& before : o.kernel_start.namespaces) {
      if (before.inode == ns.inode && before.sockets) t.start = &*before.sockets;
    }
    out.push_back(t);
  }
  return out;
}

// " in netns NAME" for a namespace other than the measured one; "" for it.
inline std::string in_netns(const NamespaceTables& t) {
  return t.self ? "" : " in netns " + t.netns;
}

// net.ipv4.ip_local_port_range as "32768-60999"; "" when unread.
inline std::string port_range_text(const Observations& o) {
  const auto& r = o.kernel_end.port_range ? o.kernel_end.port_range : o.kernel_start.port_range;
  if (!r) return "";
  return std::to_string(r->low) + "-" + std::to_string(r->high);
}

// "10.0.0.5:443" -> "10.0.0.5"; "[2001:db8::1]:443" -> "2001:db8::1".
inline std::string address_of(const std::string& endpoint) {
  if (!endpoint.empty() && endpoint.front() == '[') {
    const auto close = endpoint.find(']');
    return close == std::string::npos ? endpoint : endpoint.substr(1, close - 1);
  }
  const auto colon = endpoint.rfind(':');
  return colon == std::string::npos ? endpoint : endpoint.substr(0, colon);
}

}  // namespace connwatch::agent::diagnose
