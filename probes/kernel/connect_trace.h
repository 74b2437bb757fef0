// Who opens connections, as the kernel sees each connect(): the sock:inet_sock_set_state
// tracepoint (include/trace/events/sock.h) read through a private tracefs instance.
//
// Why a tracepoint. TIME_WAIT sockets have no owner (inode 0), and a client that opens a
// connection per request holds each one for a few hundred microseconds: /proc/<pid>/fd samples
// catch it by luck, and missed it in loaded runs. The tracepoint fires in connect() itself, in
// the connecting task's context, on the CLOSE -> SYN_SENT transition (tcp_v4_connect and
// tcp_v6_connect call tcp_set_state(sk, TCP_SYN_SENT) before the local port is chosen, so sport
// is 0 there): every connect, with the task's pid and tgid, the destination address and port,
// in every network namespace. The filter `newstate == 2` runs in the kernel, so other state
// changes cost the host nothing.
//
// How. tracefs (Documentation/trace/ftrace.rst) is mounted privately on a temporary directory
// and the mount detached at once: connwatch reaches it through a descriptor only, so no other
// process sees the mount, no concurrent run can unmount it underneath, and nothing is left if
// connwatch dies. Where mounting is refused, the host's own tracefs mount (/proc/self/mountinfo)
// is used, also through a descriptor. A private instance (instances/connwatch-<pid>) keeps
// connwatch's event, filter and buffer apart from any other tracer on the host; instances left
// by a connwatch that died are removed on open. Needs root (CAP_SYS_ADMIN to mount and write
// tracefs); pids are the initial pid namespace's, so a connwatch in another pid namespace does
// not use it (its /proc would name other processes).
//
// Lines of trace_pipe with the record-tgid option look like
//   "python3-5574    (   5574) [001] .....   288.038413: inet_sock_set_state: family=AF_INET
//    protocol=IPPROTO_TCP sport=0 dport=1 saddr=127.0.0.1 daddr=127.0.0.1 saddrv6=... daddrv6=...
//    oldstate=TCP_CLOSE newstate=TCP_SYN_SENT"
// (one line; the comm may hold spaces and dashes, the tgid column may be absent or "-------").
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "net/endpoint.h"

namespace connwatch::kernel {

// The shared address types (net/), by the names this module used before they were shared.
using net::Endpoint;
using net::IpAddress;
using net::IpFamily;

// One connect() as the tracepoint reported it.
struct ConnectEvent {
  int tid = 0;       // the task that called connect()
  int tgid = 0;      // its process; 0 when the line had no tgid column (read /proc/<tid>/status)
  std::string comm;  // the task's name (at most 15 characters, TASK_COMM_LEN)
  Endpoint destination;  // daddr/daddrv6 by family, dport
};

// Parses one trace_pipe line; nullopt for anything that is not a TCP CLOSE -> SYN_SENT
// inet_sock_set_state line in the format above (other events, other protocols, truncated or
// malformed lines). Never reads past `line`.
std::optional<ConnectEvent> parse_connect_trace_line(std::string_view line);

struct ConnectTraceOptions {
  std::filesystem::path mountinfo = "/proc/self/mountinfo";
  std::string instance = "connwatch-" + std::to_string(::getpid());
  std::size_t buffer_kib_per_cpu = 1024;  // ~10k events per cpu between two reads
};

class ConnectTracer {
 public:
  // Sets up the instance and enables the event. Errors: EPERM/EACCES without privilege, ENOENT
  // when the kernel has no such tracepoint (before 4.16) or tracefs cannot be found or mounted,
  // EOPNOTSUPP when connwatch is not in the initial pid namespace.
  static std::error_code open(ConnectTracer& into, ConnectTraceOptions options = {});

  ConnectTracer() = default;
  ~ConnectTracer();  // close()
  ConnectTracer(ConnectTracer&&) noexcept;
  ConnectTracer& operator=(ConnectTracer&&) noexcept;
  ConnectTracer(const ConnectTracer&) = delete;
  ConnectTracer& operator=(const ConnectTracer&) = delete;

  bool is_open() const { return pipe_fd_ >= 0; }
  // The instance's directory while open, as a path through a descriptor of tracefs' root
  // ("/proc/self/fd/N/instances/connwatch-PID").
  const std::filesystem::path& instance_dir() const { return instance_dir_; }

  // Appends the events buffered since the last call (never blocks). Lines that do not parse are
  // counted in unparsed(). Errors: the read's errno (the tracer stays open).
  std::error_code read(std::vector<ConnectEvent>& into);

  // Events the kernel dropped because its buffer was full (the per-cpu "overrun" of
  // per_cpu/cpuN/stats): counts are then lower bounds.
  std::uint64_t overruns() const;
  std::uint64_t unparsed() const { return unparsed_; }

  // Disables the event, removes the instance, lets go of tracefs.
  void close();

 private:
  std::filesystem::path instance_dir_;
  int root_fd_ = -1;  // tracefs' root: instance_dir_ goes through it (/proc/self/fd/N/...)
  int pipe_fd_ = -1;
  std::string partial_;  // a line the last read cut in two
  std::uint64_t unparsed_ = 0;
};

// Where tracefs is mounted, from /proc/self/mountinfo contents; nullopt when it is not.
std::optional<std::filesystem::path> tracefs_mount_point(std::string_view mountinfo);

}  // namespace connwatch::kernel
