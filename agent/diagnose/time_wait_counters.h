// The TIME_WAIT counters of /proc/net/netstat's TcpExt section: TW, TWRecycled, TWKilled
// (snmp_counter.rst). They are not among kernel::TcpEventCounter: diagnose reads them for its own
// rate and reuse findings.
#pragma once

#include <filesystem>
#include <string_view>

#include "agent/diagnose/observations.h"

namespace connwatch::agent::diagnose {

// Pure: the TcpExt header/value line pair of `netstat_text`; a field this kernel lacks, or a
// malformed section, leaves its counter nullopt.
TimeWaitCounters parse_time_wait_counters(std::string_view netstat_text);

// <proc_root>/net/netstat; all nullopt when unreadable.
TimeWaitCounters read_time_wait_counters(const std::filesystem::path& proc_root);

}  // namespace connwatch::agent::diagnose
