// dns-address-changed: a target's name now resolves elsewhere while pooled connections stay on
// the old address (a blue/green switch, a failover). Clients that never retire connections keep
// talking to the old backend until it goes away (TCP-NOTES §5).
#include "agent/diagnose/format.h"
#include "agent/diagnose/rules.h"
#include "agent/diagnose/rules/common.h"

namespace connwatch::agent::diagnose {

namespace {

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out.empty() ? "nothing" : out;
}

}  // namespace

std::vector<Finding> dns_address_changed(const Observations& o) {
  std::vector<Finding> out;
  for (const TargetObservation& t : o.targets) {
    const std::uint64_t changes = t.probes.counts.dns_address_changes;
    if (!t.stale_address && changes == 0) continue;
    const double lifetime = std::chrono::duration<double>(t.config.pool.max_lifetime).count();
    Finding f;
    f.severity = Severity::kWarning;
    f.evidence = {{"target", t.config.name},
                  {"host", t.config.url.host},
                  {"address_changes", changes},
                  {"max_lifetime_seconds", lifetime}};
    if (const auto& s = t.stale_address) {
      f.evidence["before"] = s->before;
      f.evidence["after"] = s->after;
      f.evidence["stale_connections"] = s->connections;
      f.evidence["stale_seconds"] = s->seconds;
      f.summary = t.config.name + ": " + t.config.url.host + " moved from " + join(s->before) +
                  " to " + join(s->after) + " while " +
                  plural(static_cast<std::uint64_t>(s->connections), "pooled connection",
                         "pooled connections") +
                  " stayed on the old address for " + seconds(s->seconds);
    } else {
      f.summary = t.config.name + ": " + t.config.url.host + " resolved to new addresses " +
                  std::to_string(changes) + (changes == 1 ? " time" : " times") + " during the run";
    }
    f.recommendation =
        "pooled connections follow DNS only when they are retired: set max_lifetime (now " +
        (lifetime == 0 ? std::string("never") : seconds(lifetime)) +
        ") at or below the record's TTL so clients move to the new address";
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace connwatch::agent::diagnose
