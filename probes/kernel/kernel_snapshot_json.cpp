#include "probes/kernel/kernel_snapshot_json.h"

#include <chrono>

namespace connwatch::kernel {

nlohmann::json to_json(const KernelSnapshot& s) {
  using nlohmann::json;
  json out;
  out["taken_at"] =
      std::chrono::duration<double>(s.taken_at.time_since_epoch()).count();  // Unix seconds
  out["duration_seconds"] = std::chrono::duration<double>(s.duration).count();

  if (const auto& r = s.port_range) {
    out["port_range"] = {{"low", r->low},
                         {"high", r->high},
                         {"size", r->size()},
                         {"reserved_in_range", r->reserved_in_range()},
                         {"usable", r->usable()}};
  } else {
    out["port_range"] = nullptr;
  }

  if (const auto& t = s.sockets) {
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
    out["sockets"] = {
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
  } else {
    out["sockets"] = nullptr;
  }

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

  json events = json::object();
  for (const TcpEventCounter c : kAllTcpEventCounters) {
    const auto& v = s.tcp_events[index_of(c)];
    events[std::string(to_string(c))] = v ? json(*v) : json(nullptr);
  }
  out["tcp_events"] = events;

  if (const auto& c = s.conntrack) {
    out["conntrack"] = {{"entries", c->entries}, {"limit", c->limit}};
  } else {
    out["conntrack"] = nullptr;
  }

  json failures = json::array();
  for (const auto& f : s.failures) {
    failures.push_back({{"collector", f.collector}, {"error", f.error.message()}});
  }
  out["failures"] = failures;
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
