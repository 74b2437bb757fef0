// ephemeral-port-exhaustion: one destination uses most of the local port range (each connection
// to one ip:port from one source address needs its own local port, TIME_WAIT included), or
// connects already failed with EADDRNOTAVAIL.
#include "agent/diagnose/format.h"
#include "agent/diagnose/rules.h"
#include "agent/diagnose/rules/common.h"

namespace connwatch::agent::diagnose {

namespace {

constexpr double kWarning = 0.7;
constexpr double kCritical = 0.9;

}  // namespace

std::vector<Finding> ephemeral_port_exhaustion(const Observations& o) {
  std::vector<Finding> out;
  const std::string range = port_range_text(o);

  // Targets whose connects failed for want of a local port.
  for (const TargetObservation& t : o.targets) {
    const std::uint64_t failed = attempts(t, active::Outcome::kAddrNotAvailable);
    if (failed == 0) continue;
    Finding f;
    f.severity = Severity::kCritical;
    f.summary = t.config.name + ": " + plural(failed, "connect", "connects") + " of " +
                count(attempts(t)) + " failed with EADDRNOTAVAIL: no free local port to " +
                t.config.url.authority();
    f.evidence = {{"target", t.config.name},
                  {"addr_not_available", failed},
                  {"attempts", attempts(t)},
                  {"port_range", range}};
    f.recommendation =
        "reuse pooled connections instead of opening one per request; widen "
        "net.ipv4.ip_local_port_range (now " +
        range + ") or connect from more source addresses";
    out.push_back(std::move(f));
  }

  // The busiest destination of each namespace: the measured one's over every sample, the
  // others' at the end.
  for (const NamespaceTables& t : namespace_tables(o)) {
    std::optional<kernel::DestinationPortUsage> busiest;
    if (t.self) busiest = o.peak_port_usage;
    if (!t.end->ports_in_use.empty()) {
      const auto& end = t.end->ports_in_use.front();
      if (!busiest || end.utilization > busiest->utilization) busiest = end;
    }
    if (!busiest || busiest->utilization < kWarning) continue;
    const std::string destination = busiest->destination.to_string();
    const std::uint64_t usable = t.end->usable_ports;
    std::uint64_t time_wait = 0;
    for (const auto& tw : t.end->time_wait) {
      if (tw.destination == busiest->destination) time_wait = tw.sockets;
    }
    const std::string ns_range =
        t.port_range ? std::to_string(t.port_range->low) + "-" + std::to_string(t.port_range->high)
                     : range;
    const std::string owner = owner_text(o, destination, t.netns);
    Finding f;
    f.severity = busiest->utilization >= kCritical ? Severity::kCritical : Severity::kWarning;
    f.summary =
        destination + in_netns(t) + " uses " + count(busiest->in_use) + " of " + count(usable) +
        " ephemeral ports (" + percent(busiest->utilization) + ") from " +
        busiest->source.to_string() +
        (owner.empty() ? ", no live owner seen (TIME_WAIT has none)" : ", held by " + owner);
    f.evidence = {{"destination", destination},
                  {"netns", t.netns},
                  {"source", busiest->source.to_string()},
                  {"in_use", busiest->in_use},
                  {"usable_ports", usable},
                  {"utilization", busiest->utilization},
                  {"time_wait", time_wait},
                  {"port_range", ns_range},
                  {"owners", owners_json(o, destination, t.netns)},
                  {"attribution", attribution(o, destination, t.netns)}};
    std::string fix = owner.empty() ? "" : owner + in_netns(t) + ": ";
    if (time_wait * 2 >= busiest->in_use) {
      fix += count(time_wait) +
             " of them are TIME_WAIT: reuse pooled connections instead of one per request; ";
    }
    f.recommendation = fix + "widen net.ipv4.ip_local_port_range" +
                       (t.self ? "" : " of netns " + t.netns) + " (now " + ns_range +
                       "), or spread connections over more source addresses or destination ports";
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace connwatch::agent::diagnose
