#include "probes/kernel/tcp_event_counter.h"

#include "probes/kernel/proc_file.h"

namespace connwatch::kernel {
namespace {

std::string_view next_line(std::string_view& rest) {
  const auto nl = rest.find('\n');
  const std::string_view line = rest.substr(0, nl);
  rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
  return line;
}

std::error_code parse_section(std::string_view text, std::string_view section,
                              TcpEventCounts& out) {
  TcpEventCounts parsed = out;
  bool found = false;
  std::string_view rest = text;
  while (!rest.empty()) {
    const std::string_view names_line = next_line(rest);
    if (names_line.empty()) continue;
    const std::string_view values_line = next_line(rest);
    const auto names = split_fields(names_line);
    const auto values = split_fields(values_line);
    // Every line starts with "Prefix:", and both lines of a pair carry the same one.
    if (names.empty() || values.empty() || names[0] != values[0] || names[0].back() != ':' ||
        names.size() != values.size()) {
      return ProcFileError::kMalformed;
    }
    if (names[0].substr(0, names[0].size() - 1) != section) continue;
    found = true;
    for (std::size_t i = 1; i < names.size(); ++i) {
      for (const TcpEventCounter c : kAllTcpEventCounters) {
        if (names[i] != to_string(c)) continue;
        std::uint64_t value = 0;
        if (!parse_decimal(values[i], value)) return ProcFileError::kMalformed;
        parsed[index_of(c)] = value;
      }
    }
  }
  if (!found) return ProcFileError::kMissingField;
  out = parsed;
  return {};
}

}  // namespace

std::string_view to_string(TcpEventCounter counter) {
  switch (counter) {
    case TcpEventCounter::kOutRsts:
      return "OutRsts";
    case TcpEventCounter::kEstabResets:
      return "EstabResets";
    case TcpEventCounter::kAttemptFails:
      return "AttemptFails";
    case TcpEventCounter::kTcpAbortOnData:
      return "TCPAbortOnData";
    case TcpEventCounter::kTcpAbortOnClose:
      return "TCPAbortOnClose";
    case TcpEventCounter::kTcpAbortOnTimeout:
      return "TCPAbortOnTimeout";
    case TcpEventCounter::kTcpAbortOnLinger:
      return "TCPAbortOnLinger";
    case TcpEventCounter::kTcpAbortOnMemory:
      return "TCPAbortOnMemory";
    case TcpEventCounter::kListenOverflows:
      return "ListenOverflows";
    case TcpEventCounter::kListenDrops:
      return "ListenDrops";
    case TcpEventCounter::kTcpTimeWaitOverflow:
      return "TCPTimeWaitOverflow";
    case TcpEventCounter::kTwRecycled:
      return "TWRecycled";
    case TcpEventCounter::kOutSegs:
      return "OutSegs";
    case TcpEventCounter::kRetransSegs:
      return "RetransSegs";
    case TcpEventCounter::kTcpSynRetrans:
      return "TCPSynRetrans";
    case TcpEventCounter::kTcpTimeouts:
      return "TCPTimeouts";
    case TcpEventCounter::kTcpLostRetransmit:
      return "TCPLostRetransmit";
  }
  return "unknown";
}

std::error_code parse_proc_net_snmp(std::string_view text, TcpEventCounts& out) {
  return parse_section(text, "Tcp", out);
}

std::error_code parse_proc_net_netstat(std::string_view text, TcpEventCounts& out) {
  return parse_section(text, "TcpExt", out);
}

}  // namespace connwatch::kernel
