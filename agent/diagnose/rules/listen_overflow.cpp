// listen-overflow: a local listener's accept queue overflowed (ListenOverflows) or SYNs to a
// listener were dropped (ListenDrops): clients see connect timeouts and retransmitted SYNs.
#include "agent/diagnose/format.h"
#include "agent/diagnose/rules.h"
#include "agent/diagnose/rules/common.h"

namespace connwatch::agent::diagnose {

std::vector<Finding> listen_overflow(const Observations& o) {
  const auto overflows = growth(o, kernel::TcpEventCounter::kListenOverflows);
  const auto drops = growth(o, kernel::TcpEventCounter::kListenDrops);
  const std::uint64_t n = std::max(overflows.value_or(0), drops.value_or(0));
  if (n == 0) return {};
  Finding f;
  f.severity = Severity::kWarning;
  f.summary = "a local listener dropped " + plural(n, "connection", "connections") + " in " +
              seconds(o.duration_seconds) + " (accept queue overflows " +
              count(overflows.value_or(0)) + ", listen drops " + count(drops.value_or(0)) + ")";
  f.evidence = {{"listen_overflows", overflows.value_or(0)},
                {"listen_drops", drops.value_or(0)},
                {"per_second", per_second(n, o.duration_seconds)},
                {"somaxconn", o.somaxconn ? nlohmann::json(*o.somaxconn) : nlohmann::json()}};
  f.recommendation =
      "a server here accepts connections slower than they arrive: find it with `ss -ltn` "
      "(Recv-Q near Send-Q), add accept workers, and raise its listen backlog and "
      "net.core.somaxconn (now " +
      (o.somaxconn ? count(*o.somaxconn) : std::string("unknown")) + ")";
  return {f};
}

}  // namespace connwatch::agent::diagnose
