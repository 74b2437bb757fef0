#include "agent/diagnose/report.h"

#include <algorithm>
#include <array>
#include <set>

#include "agent/diagnose/format.h"
#include "agent/diagnose/limits.h"
#include "agent/diagnose/rules/common.h"
#include "probes/active/target_snapshot_json.h"
#include "probes/kernel/kernel_snapshot_json.h"

namespace connwatch::agent::diagnose {

namespace {

nlohmann::json optional_json(const std::optional<double>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

nlohmann::json target_json(const TargetObservation& t) {
  nlohmann::json j = active::to_json(t.probes);
  j["keep_alive"] = {
      {"peer_idle_close_seconds", optional_json(t.peer_idle_close_seconds)},
      {"idle_watched_seconds", optional_json(t.idle_watched_seconds)},
      {"server_keep_alive_seconds",
       t.server_keep_alive ? nlohmann::json(t.server_keep_alive->count()) : nlohmann::json()},
      {"pool_idle_timeout_seconds",
       std::chrono::duration<double>(t.config.pool.idle_timeout).count()},
  };
  if (const auto& s = t.stale_address) {
    j["stale_address"] = {{"before", s->before},
                          {"after", s->after},
                          {"connections", s->connections},
                          {"seconds", s->seconds}};
  } else {
    j["stale_address"] = nullptr;
  }
  return j;
}

nlohmann::json resets_json(const Observations& o) {
  nlohmann::json passive = passive::to_json(o.passive);
  nlohmann::json peers = nlohmann::json::array();
  for (const auto& p : o.passive.peers) {
    if (p.total() == 0) continue;
    nlohmann::json by_sender = nlohmann::json::object();
    for (const auto s : passive::kResetSenders) {
      by_sender[std::string(passive::to_string(s))] = p.by_sender[passive::index_of(s)];
    }
    peers.push_back({{"peer", p.peer}, {"total", p.total()}, {"by_sender", by_sender}});
  }
  nlohmann::json r = passive["resets"];
  r["suspected_middlebox"] = o.passive.resets_suspected_middlebox;
  r["peers"] = peers;
  r["capture"] = {{"interface", o.interface},
                  {"enabled", o.capture_enabled},
                  {"up", o.capture_up},
                  {"error", o.capture_error},
                  {"packets", o.passive.packets},
                  {"dropped", o.passive.dropped_kernel + o.passive.dropped_interface}};
  r["connections"] = o.passive.connections;
  r["time_wait_entries"] = passive["time_wait_entries"];
  r["closes"] = passive["closes"];
  return r;
}

nlohmann::json sockets_json(const Observations& o) {
  nlohmann::json owners = nlohmann::json::array();
  for (const auto& [destination, d] : o.destinations) {
    nlohmann::json holders = nlohmann::json::array();
    for (const auto& h : d.owners) {
      holders.push_back({{"pid", h.pid},
                         {"comm", h.comm},
                         {"connects", h.connects},
                         {"sockets", h.sockets},
                         {"samples", h.samples}});
    }
    owners.push_back({{"destination", destination},
                      {"owners", holders},
                      {"live_sockets", d.live_sockets_seen},
                      {"own_sockets", d.own_sockets},
                      {"owner_samples", d.owner_samples},
                      {"time_wait_sockets", d.time_wait_peak},
                      {"time_wait_entries", d.time_wait_entries},
                      {"time_wait_early_exits", d.time_wait_early_exits}});
  }
  // The busiest (namespace, destination) pairs by connects, at most 20: the tracepoint's view.
  std::vector<const DestinationConnects*> busiest;
  for (const auto& [key, c] : o.connects) busiest.push_back(&c);
  std::sort(busiest.begin(), busiest.end(),
            [](const auto* a, const auto* b) { return a->connects > b->connects; });
  if (busiest.size() > 20) busiest.resize(20);
  nlohmann::json connects = nlohmann::json::array();
  for (const auto* c : busiest) {
    nlohmann::json callers = nlohmann::json::array();
    for (const auto& h : c->owners) {
      callers.push_back({{"pid", h.pid}, {"comm", h.comm}, {"connects", h.connects}});
    }
    connects.push_back({{"netns", c->netns},
                        {"destination", c->destination},
                        {"connects", c->connects},
                        {"own_connects", c->own_connects},
                        {"callers", callers}});
  }
  const auto counters = [](const TimeWaitCounters& c) {
    const auto v = [](const std::optional<std::uint64_t>& x) {
      return x ? nlohmann::json(*x) : nlohmann::json();
    };
    return nlohmann::json{
        {"TW", v(c.entered)}, {"TWRecycled", v(c.recycled)}, {"TWKilled", v(c.killed)}};
  };
  nlohmann::json trends = nlohmann::json::array();
  for (const auto& [pid, t] : o.fd_trends) {
    trends.push_back({{"pid", pid},
                      {"comm", t.comm},
                      {"first_open", t.first_open},
                      {"last_open", t.last_open},
                      {"limit", t.limit},
                      {"seconds", t.seconds}});
  }
  nlohmann::json fds = nlohmann::json::array();
  for (const auto& p : o.processes_near_fd_limit) {
    fds.push_back({{"pid", p.pid},
                   {"comm", p.comm},
                   {"open", p.open},
                   {"limit", p.limit},
                   {"serves_targets", p.serves_targets},
                   {"client_of_targets", p.client_of_targets}});
  }
  return {{"start", kernel::to_json(o.kernel_start)},
          {"end", kernel::to_json(o.kernel_end)},
          {"owners", owners},
          {"time_wait_sampled_seconds", o.time_wait_sampled_seconds},
          {"time_wait_samples", o.time_wait_samples},
          {"time_wait_counters",
           {{"start", counters(o.time_wait_counters_start)},
            {"end", counters(o.time_wait_counters_end)}}},
          {"tcp_tw_reuse", o.tcp_tw_reuse ? nlohmann::json(*o.tcp_tw_reuse) : nlohmann::json()},
          {"processes_near_fd_limit", fds},
          {"fd_trends", trends},
          {"agent_pid", o.own_pid},
          {"netns", o.own_netns},
          {"connect_trace",
           {{"enabled", o.connect_trace},
            {"error", o.connect_trace_error},
            {"lost_events", o.connect_trace_lost},
            {"busiest", connects}}},
          {"somaxconn", o.somaxconn ? nlohmann::json(*o.somaxconn) : nlohmann::json()}};
}

std::string upper(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return out;
}

void write_summary(std::ostream& out, const Observations& o) {
  out << "Summary (" << seconds(o.duration_seconds) << ")\n";
  if (o.capture_up) {
    const auto& p = o.passive;
    out << "  resets     " << count(p.resets_total()) << " seen on " << o.interface << " (server "
        << count(p.resets_by_sender(passive::ResetSender::kServer)) << ", client "
        << count(p.resets_by_sender(passive::ResetSender::kClient)) << "; handshake "
        << count(p.resets_by_phase(passive::ResetPhase::kHandshake)) << ", established "
        << count(p.resets_by_phase(passive::ResetPhase::kEstablished)) << ", closing "
        << count(p.resets_by_phase(passive::ResetPhase::kClosing)) << "), "
        << count(p.resets_suspected_middlebox) << " suspected middlebox; "
        << (p.connections == 0 ? std::string("no connection completed its handshake")
                               : plural(p.connections, "connection", "connections") + " opened")
        << "\n";
  } else {
    out << "  resets     not captured (" << (o.capture_enabled ? o.capture_error : "disabled")
        << ")\n";
  }
  if (const auto& s = o.kernel_end.sockets) {
    const auto tw = s->count(kernel::TcpState::kTimeWait);
    const auto tw0 =
        o.kernel_start.sockets ? o.kernel_start.sockets->count(kernel::TcpState::kTimeWait) : 0;
    out << "  TIME_WAIT  " << count(tw) << " now (" << (tw >= tw0 ? "+" : "-")
        << count(tw >= tw0 ? tw - tw0 : tw0 - tw) << ")";
    if (!s->time_wait.empty()) {
      out << ", most to " << s->time_wait.front().destination.to_string() << " ("
          << count(s->time_wait.front().sockets) << ")";
    }
    out << "; " << count(s->count(kernel::TcpState::kEstablished)) << " established\n";
    out << "  ports      ";
    if (!s->ports_in_use.empty()) {
      const auto& b = s->ports_in_use.front();
      out << "busiest " << b.destination.to_string() << " " << count(b.in_use) << " of "
          << count(s->usable_ports) << " (" << percent(b.utilization) << ")";
    } else {
      out << "no outgoing connections, " << count(s->usable_ports) << " usable";
    }
    if (const auto& r = o.kernel_end.port_range) out << ", range " << r->low << "-" << r->high;
    out << "\n";
  } else {
    out << "  sockets    socket tables unreadable\n";
  }
  {
    std::uint64_t connects = 0;
    std::set<std::string> namespaces;
    for (const auto& [key, c] : o.connects) {
      connects += c.connects;
      if (c.connects > 0) namespaces.insert(c.netns);
    }
    out << "  connects   ";
    if (o.connect_trace) {
      out << count(connects) << " traced in "
          << plural(namespaces.size(), "namespace", "namespaces") << " (connwatch's own left out)";
      if (o.connect_trace_lost > 0) out << ", " << count(o.connect_trace_lost) << " lost";
    } else {
      out << "not traced (" << o.connect_trace_error << "): owners from socket samples";
    }
    out << "; measured netns " << o.own_netns << ", "
        << plural(o.kernel_end.namespaces.size(), "namespace", "namespaces") << " read";
    if (o.kernel_end.unreadable_namespaces > 0) {
      out << ", " << count(o.kernel_end.unreadable_namespaces) << " unreadable";
    }
    out << "\n";
  }
  if (const auto& f = o.kernel_end.file_descriptors) {
    out << "  fds        system " << count(f->allocated) << " allocated";
    if (f->maximum < (std::uint64_t{1} << 62)) out << " of " << count(f->maximum);
    if (!o.processes_near_fd_limit.empty()) {
      out << "; " << plural(o.processes_near_fd_limit.size(), "process", "processes")
          << " near its limit";
    }
    out << "\n";
  }
  for (const TargetObservation& t : o.targets) {
    const auto& c = t.probes.counts;
    out << "  target     " << t.config.name;
    if (t.config.url_text != t.config.name) out << " " << t.config.url_text;
    out << ": " << count(c.probes) << " probes, "
        << count(c.results[active::index_of(active::ProbeResult::kFirstTry)] +
                 c.results[active::index_of(active::ProbeResult::kAfterRetry)])
        << " ok";
    for (const auto outcome : active::kAllOutcomes) {
      if (outcome == active::Outcome::kSuccess) continue;
      if (const auto n = c.attempts[active::index_of(outcome)]; n > 0) {
        out << ", " << count(n) << " " << active::to_string(outcome);
      }
    }
    out << "; " << count(c.requests_reused) << " reused";
    if (t.peer_idle_close_seconds) {
      out << "; server closes idle after " << seconds(*t.peer_idle_close_seconds);
    } else if (t.idle_watched_seconds) {
      out << "; idle connection alive after " << seconds(*t.idle_watched_seconds);
    }
    out << "\n";
  }
}

}  // namespace

nlohmann::json to_json(const Observations& o, const std::vector<Finding>& findings) {
  nlohmann::json f = nlohmann::json::array();
  for (const auto& finding : findings) f.push_back(to_json(finding));
  nlohmann::json targets = nlohmann::json::array();
  for (const auto& t : o.targets) targets.push_back(target_json(t));
  nlohmann::json skipped = nlohmann::json::array();
  for (const auto& s : o.skipped_targets) {
    skipped.push_back({{"name", s.name}, {"url", s.url}, {"reason", s.reason}});
  }
  nlohmann::json limits = nlohmann::json::array();
  for (const auto& l : run_limits(o)) {
    limits.push_back({{"check", l.check},
                      {"target", l.target},
                      {"seen_seconds", l.seen_seconds},
                      {"needs_seconds", l.needs_seconds},
                      {"suggested_duration_seconds", l.suggested_duration_seconds},
                      {"text", l.text}});
  }
  return {{"findings", f},
          {"targets", targets},
          {"resets", resets_json(o)},
          {"sockets", sockets_json(o)},
          {"skipped_targets", skipped},
          {"not_seen", limits},
          {"duration_seconds", o.duration_seconds}};
}

void write_text(std::ostream& out, const Observations& o, const std::vector<Finding>& findings) {
  std::array<std::size_t, 3> by_severity{};
  for (const auto& f : findings) ++by_severity[static_cast<std::size_t>(f.severity)];
  if (findings.empty()) {
    out << "No problems found in " << seconds(o.duration_seconds) << ".\n\n";
  } else {
    // "2 findings in 10 s: 1 critical, 1 info"
    std::string counts;
    for (const auto severity : {Severity::kCritical, Severity::kWarning, Severity::kInfo}) {
      const auto n = by_severity[static_cast<std::size_t>(severity)];
      if (n == 0) continue;
      counts +=
          (counts.empty() ? "" : ", ") + (severity == Severity::kWarning
                                              ? plural(n, "warning", "warnings")
                                              : count(n) + " " + std::string(to_string(severity)));
    }
    out << plural(findings.size(), "finding", "findings") << " in " << seconds(o.duration_seconds)
        << ": " << counts << "\n\n";
  }
  for (const auto& s : o.skipped_targets) {
    out << "skipped target " << s.name << " (" << s.url << "): " << s.reason << "\n\n";
  }
  for (const auto& f : findings) {
    out << upper(to_string(f.severity)) << "  " << to_string(f.id) << "\n";
    out << "  " << f.summary << "\n";
    for (const auto& line : f.more) out << "  " << line << "\n";
    out << "  fix: " << f.recommendation << "\n";
    if (f.evidence.is_object() && !f.evidence.empty()) {
      out << "  evidence:";
      for (const auto& [key, value] : f.evidence.items()) {
        if (value.is_null() || key == "subjects" || key == "attribution") continue;
        if ((value.is_array() || value.is_object()) && value.empty()) continue;
        out << " " << key << "=" << (value.is_string() ? value.get<std::string>() : value.dump());
      }
      out << "\n";
    }
    out << "\n";
  }
  if (const auto limits = run_limits(o); !limits.empty()) {
    out << "Not seen in this run (it lasted " << seconds(o.duration_seconds) << "):\n";
    for (const auto& l : limits) out << "  " << l.text << "\n";
    out << "\n";
  }
  write_summary(out, o);
}

}  // namespace connwatch::agent::diagnose
