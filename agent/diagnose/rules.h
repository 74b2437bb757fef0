// The findings engine: one rule per finding id, each a pure function of the observations, in
// agent/diagnose/rules/<id>.cpp. Adding a finding: its id in finding.h (enum, kAllFindingIds,
// to_string), one file in rules/ (and CMakeLists.txt), its declaration here, one line in rules.cpp.
#pragma once

#include <span>
#include <vector>

#include "agent/diagnose/finding.h"
#include "agent/diagnose/observations.h"

namespace connwatch::agent::diagnose {

// A rule may raise its finding several times (once per target or destination), or not at all.
using Rule = std::vector<Finding> (*)(const Observations&);

struct RuleEntry {
  FindingId id;
  Rule rule;
};

std::vector<Finding> ephemeral_port_exhaustion(const Observations& o);
std::vector<Finding> fd_exhaustion(const Observations& o);
std::vector<Finding> connection_refused(const Observations& o);
std::vector<Finding> peer_reset_midstream(const Observations& o);
std::vector<Finding> middlebox_reset_suspected(const Observations& o);
std::vector<Finding> stale_pooled_connection(const Observations& o);
std::vector<Finding> probe_timeouts(const Observations& o);
std::vector<Finding> time_wait_accumulation(const Observations& o);
std::vector<Finding> dns_address_changed(const Observations& o);
std::vector<Finding> listen_overflow(const Observations& o);
std::vector<Finding> local_abort_unread_data(const Observations& o);
std::vector<Finding> dns_resolution_failed(const Observations& o);
std::vector<Finding> tls_handshake_failed(const Observations& o);
std::vector<Finding> http_error_status(const Observations& o);
std::vector<Finding> closed_without_response(const Observations& o);
std::vector<Finding> port_reuse_churn(const Observations& o);
std::vector<Finding> capture_unavailable(const Observations& o);
std::vector<Finding> packet_loss(const Observations& o);

std::span<const RuleEntry> all_rules();

// Every rule over `o`, each id's findings merged into one (merge()), worst first.
std::vector<Finding> evaluate(const Observations& o);

}  // namespace connwatch::agent::diagnose
