#include "probes/kernel/kernel_snapshot_json.h"

#include <chrono>

namespace connwatch::kernel {
namespace {

using nlohmann::json;

json port_range_json(const std::optional<EphemeralPortRange>& range) {
  if (!range) return nullptr;
  const auto& r = *range;
  return {{"low", r.low},
          {"high", r.high},
          {"size", r.size()},
          {"reserved_in_range", r.reserved_in_range()},
          {"usable", r.usable()}};
}

json quality_json(const DestinationQuality& d) {
  return {{"destination", d.destination.to_string()},
          {"retransmitted_segments", d.retransmitted},
          {"sent_segments", d.sent},
          {"rtt_sockets", d.rtt_sockets},
          {"rtt_mean_seconds", d.rtt_mean_seconds},
          {"rtt_max_seconds", d.rtt_max_seconds}};
}

json sockets_json(const std::optional<SocketTableSummary>& table) {
  if (!table) return nullptr;
  const auto* t = &*table;
  json states = json::object();
  for (const TcpState st : kAllTcpStates) states[std::string(to_string(st))] = t->count(st);
  json tw = json::array();
  for (const auto& d : t->time_wait) {
    tw.push_back({{"destination", d.destination.to_string()}, {"sockets", d.sockets}});
  }
  json ports = json::array();
  for (const auto& d : t->ports_in_use) {
    ports.push_back({{"destination", d.destination.to_string()},
                     {"source", d.source.to_string()},
                     {"in_use", d.in_use},
                     {"utilization", d.utilization}});
  }
  json out = {
      {"total", t->sockets},
      {"by_state", states},
      {"interrupted", t->interrupted},
      {"time_wait",
       {{"destinations", tw},
        {"other", t->time_wait_other},
        {"distinct_destinations", t->time_wait_destinations}}},
      {"ports_in_use",
       {{"usable_ports", t->usable_ports},
        {"destinations", ports},
        {"other", t->ports_in_use_other},
        {"other_max_utilization", t->utilization_other},
        {"distinct_destinations", t->port_destinations}}},
  };
  if (t->has_quality) {
    json quality = json::array();
    for (const auto& d : t->quality) quality.push_back(quality_json(d));
    json other = quality_json(t->quality_other);
    other.erase("destination");
    out["quality"] = {{"destinations", quality},
                      {"other", other},
                      {"distinct_destinations", t->quality_destinations}};
  }
  return out;
}

json tcp_events_json(const TcpEventCounts& counts) {
  json events = json::object();
  for (const TcpEventCounter c : kAllTcpEventCounters) {
    const auto& v = counts[index_of(c)];
    events[std::string(to_string(c))] = v ? json(*v) : json(nullptr);
  }
  return events;
}

json failures_json(const std::vector<CollectorFailure>& list) {
  json failures = json::array();
  for (const auto& f : list) {
    failures.push_back({{"collector", f.collector}, {"error", f.error.message()}});
  }
  return failures;
}

}  // namespace

nlohmann::json to_json(const KernelSnapshot& s) {
  json out;
  out["taken_at"] =
      std::chrono::duration<double>(s.taken_at.time_since_epoch()).count();  // Unix seconds
  out["duration_seconds"] = std::chrono::duration<double>(s.duration).count();
  out["port_range"] = port_range_json(s.port_range);
  out["sockets"] = sockets_json(s.sockets);
  json namespaces = json::array();
  for (const auto& ns : s.namespaces) {
    namespaces.push_back({{"name", ns.name},
                          {"inode", ns.inode},
                          {"self", ns.self},
                          {"own_series", ns.own_series},
                          {"port_range", port_range_json(ns.port_range)},
                          {"sockets", sockets_json(ns.sockets)},
                          {"tcp_events", tcp_events_json(ns.tcp_events)},
                          {"failures", failures_json(ns.failures)}});
  }
  out["namespaces"] = namespaces;
  out["unreadable_namespaces"] = s.unreadable_namespaces;

  if (const auto& f = s.file_descriptors) {
    out["file_descriptors"] = {{"allocated", f->allocated}, {"limit", f->maximum}};
  } else {
    out["file_descriptors"] = nullptr;
  }
  if (const auto& p = s.process_file_descriptors) {
    out["process_file_descriptors"] = {{"open", p->open}, {"limit", p->limit}};
  } else {
    out["process_file_descriptors"] = nullptr;
  }

  out["tcp_events"] = tcp_events_json(s.tcp_events);

  if (const auto& c = s.conntrack) {
    out["conntrack"] = {{"entries", c->entries}, {"limit", c->limit}};
  } else {
    out["conntrack"] = nullptr;
  }

  out["failures"] = failures_json(s.failures);
  return out;
}

nlohmann::json to_json(const DestinationOwners& o) {
  nlohmann::json owners = nlohmann::json::array();
  for (const auto& owner : o.owners) {
    owners.push_back({{"pid", owner.pid}, {"comm", owner.comm}, {"sockets", owner.sockets}});
  }
  return {{"destination", o.destination.to_string()},
          {"owners", owners},
          {"live_sockets", o.live_sockets},
          {"time_wait_sockets", o.time_wait_sockets},
          {"unattributed_sockets", o.unattributed_sockets}};
}

}  // namespace connwatch::kernel
