// capture-unavailable: pcap could not be opened, so resets and TIME_WAIT entries were not seen on
// the wire; the kernel tables and probes still ran.
#include "agent/diagnose/rules.h"

namespace connwatch::agent::diagnose {

std::vector<Finding> capture_unavailable(const Observations& o) {
  if (o.capture_up || !o.capture_enabled) return {};
  Finding f;
  f.severity = Severity::kInfo;
  f.summary = "packet capture on " + o.interface + " was unavailable (" +
              (o.capture_error.empty() ? std::string("unknown error") : o.capture_error) +
              "); resets were not counted on the wire";
  f.evidence = {{"interface", o.interface}, {"error", o.capture_error}};
  f.recommendation =
      "run as root or grant the binary CAP_NET_RAW (setcap cap_net_raw,cap_net_admin+ep agent), "
      "or pass --interface with an interface that exists";
  return {f};
}

}  // namespace connwatch::agent::diagnose
