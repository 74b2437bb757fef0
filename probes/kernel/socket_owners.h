// Which local processes own the sockets to a destination: the sock_diag inode of each live socket
// matched against the /proc/<pid>/fd/* links that read "socket:[inode]". For `agent --diagnose`
// ("who opens a connection per request to api:8080?").
//
// TIME_WAIT sockets have no owner: they are kernel minisocks left after close(), with inode 0. They
// are counted, not attributed; the owners of a destination's live sockets are usually the culprits.
// A socket shared across fork() belongs to every process that holds it. Processes in other PID
// namespaces and, without root, other users' processes are not visible.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_set>
#include <vector>

#include "net/endpoint.h"

namespace connwatch::kernel {

// The shared address types (net/), by the names this module used before they were shared.
using net::Endpoint;

struct SocketOwner {
  int pid = 0;
  std::string comm;         // /proc/<pid>/comm
  std::size_t sockets = 0;  // of the destination's live sockets, how many this process holds
};

struct DestinationOwners {
  Endpoint destination;
  std::vector<SocketOwner> owners;  // most sockets first
  std::size_t live_sockets = 0;     // sockets to the destination that have an inode
  std::size_t time_wait_sockets = 0;
  std::size_t unattributed_sockets = 0;  // live sockets no visible process holds
};

// One process's socket inodes, as read from /proc/<pid>/fd.
struct ProcessSockets {
  int pid = 0;
  std::string comm;
  std::vector<std::uint64_t> inodes;
};

// "socket:[12345]" -> 12345; anything else (files, pipes, "anon_inode:...") -> nullopt.
std::optional<std::uint64_t> parse_socket_link(std::string_view link_target);

// Pure: which processes hold which of `inodes`, most first (ties by pid).
std::vector<SocketOwner> match_socket_owners(const std::unordered_set<std::uint64_t>& inodes,
                                             std::span<const ProcessSockets> processes);

// Scans <proc_root>/[0-9]*/fd. Processes that exit or deny access mid-scan are skipped.
std::vector<ProcessSockets> read_process_sockets(const std::filesystem::path& proc_root = "/proc");

// The whole lookup: a sock_diag dump (both families) for the destination's sockets, then the scan.
std::error_code find_socket_owners(const Endpoint& destination, DestinationOwners& out,
                                   const std::filesystem::path& proc_root = "/proc");

}  // namespace connwatch::kernel
