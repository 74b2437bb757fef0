// Kernel TCP counters that explain resets and drops (TCP-NOTES §2, snmp_counter.rst): Tcp fields of
// /proc/net/snmp and TcpExt fields of /proc/net/netstat. The string is the kernel's field name and
// the `counter` label value of connwatch_kernel_tcp_events_total.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <system_error>

namespace connwatch::kernel {

enum class TcpEventCounter {
  kOutRsts,              // Tcp: every RST sent, active or stateless
  kEstabResets,          // Tcp: ESTABLISHED/CLOSE_WAIT -> CLOSED
  kAttemptFails,         // Tcp: SYN_SENT/SYN_RECV -> CLOSED (refused, timed out)
  kTcpAbortOnData,       // TcpExt: closed with unread data / SO_LINGER 0 / data after close
  kTcpAbortOnClose,      // TcpExt: data arrived after the user closed
  kTcpAbortOnTimeout,    // TcpExt: retransmission timer gave up (no RST sent)
  kTcpAbortOnLinger,     // TcpExt: TCP_LINGER2 expired in FIN_WAIT2
  kTcpAbortOnMemory,     // TcpExt: orphan or memory pressure
  kListenOverflows,      // TcpExt: accept queue full
  kListenDrops,          // TcpExt: SYN to a listener dropped for any reason
  kTcpTimeWaitOverflow,  // TcpExt: TIME_WAIT destroyed at once, past tcp_max_tw_buckets
  kTwRecycled,           // TcpExt: TIME_WAIT reused by a new connection (timestamps)
  kOutSegs,              // Tcp: segments sent, retransmissions excluded
  kRetransSegs,          // Tcp: segments retransmitted
  kTcpSynRetrans,        // TcpExt: SYN and SYN-ACK retransmissions (lost handshakes)
  kTcpTimeouts,          // TcpExt: retransmission timer expiries (RTO)
  kTcpLostRetransmit,    // TcpExt: a retransmission was itself lost
};

inline constexpr std::size_t kTcpEventCounterCount = 17;

inline constexpr std::array<TcpEventCounter, kTcpEventCounterCount> kAllTcpEventCounters = {
    TcpEventCounter::kOutRsts,
    TcpEventCounter::kEstabResets,
    TcpEventCounter::kAttemptFails,
    TcpEventCounter::kTcpAbortOnData,
    TcpEventCounter::kTcpAbortOnClose,
    TcpEventCounter::kTcpAbortOnTimeout,
    TcpEventCounter::kTcpAbortOnLinger,
    TcpEventCounter::kTcpAbortOnMemory,
    TcpEventCounter::kListenOverflows,
    TcpEventCounter::kListenDrops,
    TcpEventCounter::kTcpTimeWaitOverflow,
    TcpEventCounter::kTwRecycled,
    TcpEventCounter::kOutSegs,
    TcpEventCounter::kRetransSegs,
    TcpEventCounter::kTcpSynRetrans,
    TcpEventCounter::kTcpTimeouts,
    TcpEventCounter::kTcpLostRetransmit,
};

// "OutRsts", "TCPAbortOnData", ...: the kernel's name, also the label value.
std::string_view to_string(TcpEventCounter counter);
constexpr std::size_t index_of(TcpEventCounter c) { return static_cast<std::size_t>(c); }

// Values by index_of(); nullopt when the kernel did not report the field (or its file failed).
using TcpEventCounts = std::array<std::optional<std::uint64_t>, kTcpEventCounterCount>;

// Both files are pairs of lines, "Prefix: Name1 Name2 ..." then "Prefix: v1 v2 ...". These read
// the counters of one section ("Tcp" in snmp, "TcpExt" in netstat) into `out`, leaving the other
// entries alone. kMissingField when the section is absent; kMalformed when a pair's name and
// value counts differ or a wanted value is not a number. Counters this kernel lacks stay nullopt.
std::error_code parse_proc_net_snmp(std::string_view text, TcpEventCounts& out);
std::error_code parse_proc_net_netstat(std::string_view text, TcpEventCounts& out);

}  // namespace connwatch::kernel
