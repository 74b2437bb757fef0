// middlebox-reset-suspected: RSTs whose IP TTL differs from the TTL of the same sender's earlier
// packets in that flow. A host keeps one initial TTL, so a different hop count means something
// in the path (firewall, load balancer, NAT, IPS) forged the reset (TCP-NOTES §1).
#include "agent/diagnose/format.h"
#include "agent/diagnose/rules.h"
#include "agent/diagnose/rules/common.h"

namespace connwatch::agent::diagnose {

std::vector<Finding> middlebox_reset_suspected(const Observations& o) {
  const std::uint64_t n = o.passive.resets_suspected_middlebox;
  if (!o.capture_up || n == 0) return {};
  Finding f;
  f.severity = Severity::kWarning;
  f.evidence = {{"suspected_resets", n}, {"resets", o.passive.resets_total()}};
  std::string where;
  if (const auto& m = o.passive.last_middlebox_reset) {
    f.evidence["peer"] = m->peer;
    f.evidence["reset_ttl"] = m->reset_ttl;
    f.evidence["flow_ttl"] = m->flow_ttl;
    f.summary = plural(n, "reset", "resets") + " carry TTL " + std::to_string(m->reset_ttl) +
                " while the packets of the same connection carry TTL " +
                std::to_string(m->flow_ttl) + " (peer " + m->peer + "): a middlebox is resetting";
    where = " between here and " + m->peer;
  } else {
    f.summary = plural(n, "reset", "resets") +
                " carry a TTL that does not match their connection: a middlebox is resetting";
  }
  f.recommendation = "a firewall, load balancer or NAT" + where +
                     " sends these RSTs: check its idle and session timeouts and its reject "
                     "rules; keep pooled connections' idle_timeout (or TCP keepalive) below its "
                     "idle timeout";
  return {f};
}

}  // namespace connwatch::agent::diagnose
