// The table of probe kinds: URL scheme -> prober. Dispatch uses it, and so can config validation
// (a kind not listed here is not a probe connwatch has).
#pragma once

#include <span>
#include <string_view>

#include "config/address.h"
#include "probes/active/prober.h"

namespace connwatch::active {

struct ProberEntry {
  config::Scheme scheme;
  std::string_view kind;  // to_string(scheme): "http", "https", "tcp"
  bool tls;               // the pool does a TLS handshake on new connections
  bool talks_first_ok;    // bytes from the server on an idle connection are not an error
  // Every probe dials a new connection and closes it gracefully afterwards (no idle connection is
  // kept): the probe then checks the network and the listener every time, as blackbox_exporter's
  // tcp prober does. A pooled connection would only show the local socket's view (SPEC §4).
  bool new_connection_per_probe;
  ProbeFunction probe;
};

std::span<const ProberEntry> probers();
const ProberEntry* find_prober(config::Scheme scheme);
const ProberEntry* find_prober(std::string_view kind);

}  // namespace connwatch::active
