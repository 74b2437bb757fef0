// local-abort-unread-data: TCPAbortOnData grew. Local code closed sockets with unread data in
// the receive queue, or with SO_LINGER {1, 0}: the kernel answers with an RST instead of a FIN,
// and the peer sees "connection reset by peer" (TCP-NOTES §2).
#include "agent/diagnose/format.h"
#include "agent/diagnose/rules.h"
#include "agent/diagnose/rules/common.h"

namespace connwatch::agent::diagnose {

namespace {

constexpr std::uint64_t kMinAborts = 10;  // a handful is everyday noise on a busy host

}  // namespace

std::vector<Finding> local_abort_unread_data(const Observations& o) {
  const auto aborts = growth(o, kernel::TcpEventCounter::kTcpAbortOnData);
  if (!aborts || *aborts < kMinAborts) return {};
  Finding f;
  f.severity = Severity::kWarning;
  f.summary = "local processes aborted " + plural(*aborts, "connection", "connections") +
              " with unread data in " + seconds(o.duration_seconds) +
              " (TCPAbortOnData), sending RST to their peers";
  f.evidence = {{"tcp_abort_on_data", *aborts},
                {"per_second", per_second(*aborts, o.duration_seconds)}};
  f.recommendation =
      "some code here closes sockets before reading everything the peer sent, or sets "
      "SO_LINGER 0: drain response bodies before closing (or return the connection to its "
      "pool), and drop SO_LINGER {1, 0} unless an abort is intended";
  return {f};
}

}  // namespace connwatch::agent::diagnose
