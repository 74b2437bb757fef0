#include "probes/kernel/socket_owners.h"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <string>

#include "probes/kernel/proc_file.h"
#include "probes/kernel/sock_diag_parser.h"
#include "probes/kernel/sock_diag_socket.h"

namespace connwatch::kernel {
namespace {

bool is_pid(const char* name) {
  if (*name == '\0') return false;
  for (const char* p = name; *p != '\0'; ++p) {
    if (*p < '0' || *p > '9') return false;
  }
  return true;
}

class DestinationSockets final : public SocketVisitor {
 public:
  explicit DestinationSockets(const Endpoint& destination) : destination_(destination) {}
  void on_socket(const SocketRecord& socket) override {
    if (socket.state == TcpState::kListen || !(socket.remote == destination_)) return;
    if (socket.inode == 0) {
      // TIME_WAIT minisocks; request sockets (SYN_RECV) also have no inode yet.
      if (socket.state == TcpState::kTimeWait) ++time_wait;
      return;
    }
    inodes.insert(socket.inode);
  }
  std::unordered_set<std::uint64_t> inodes;
  std::size_t time_wait = 0;

 private:
  Endpoint destination_;
};

}  // namespace

std::optional<std::uint64_t> parse_socket_link(std::string_view link_target) {
  constexpr std::string_view kPrefix = "socket:[";
  if (link_target.size() <= kPrefix.size() + 1 || !link_target.starts_with(kPrefix) ||
      link_target.back() != ']') {
    return std::nullopt;
  }
  const std::string_view digits =
      link_target.substr(kPrefix.size(), link_target.size() - kPrefix.size() - 1);
  std::uint64_t inode = 0;
  if (!parse_decimal(digits, inode)) return std::nullopt;
  return inode;
}

std::vector<SocketOwner> match_socket_owners(const std::unordered_set<std::uint64_t>& inodes,
                                             std::span<const ProcessSockets> processes) {
  std::vector<SocketOwner> owners;
  for (const ProcessSockets& process : processes) {
    // A process may hold the same socket on several fds (dup()); count sockets, not fds.
    std::unordered_set<std::uint64_t> held;
    for (const std::uint64_t inode : process.inodes) {
      if (inodes.count(inode) != 0) held.insert(inode);
    }
    if (!held.empty()) owners.push_back({process.pid, process.comm, held.size()});
  }
  std::sort(owners.begin(), owners.end(), [](const SocketOwner& a, const SocketOwner& b) {
    return a.sockets != b.sockets ? a.sockets > b.sockets : a.pid < b.pid;
  });
  return owners;
}

std::vector<ProcessSockets> read_process_sockets(const std::filesystem::path& proc_root) {
  std::vector<ProcessSockets> out;
  DIR* proc = ::opendir(proc_root.c_str());
  if (proc == nullptr) return out;
  while (const dirent* entry = ::readdir(proc)) {
    if (!is_pid(entry->d_name)) continue;
    ProcessSockets process;
    std::from_chars(entry->d_name, entry->d_name + std::char_traits<char>::length(entry->d_name),
                    process.pid);
    const auto pid_dir = proc_root / entry->d_name;
    const auto fd_dir_path = pid_dir / "fd";
    DIR* fd_dir = ::opendir(fd_dir_path.c_str());
    if (fd_dir == nullptr) continue;  // exited, or not ours to read
    while (const dirent* fd = ::readdir(fd_dir)) {
      if (!is_pid(fd->d_name)) continue;
      char target[64];
      const auto link = fd_dir_path / fd->d_name;
      const ssize_t n = ::readlink(link.c_str(), target, sizeof(target));
      if (n <= 0 || static_cast<std::size_t>(n) >= sizeof(target)) continue;
      if (auto inode = parse_socket_link(std::string_view(target, static_cast<std::size_t>(n)))) {
        process.inodes.push_back(*inode);
      }
    }
    ::closedir(fd_dir);
    if (process.inodes.empty()) continue;
    std::string comm;
    if (!read_proc_file(pid_dir / "comm", comm, 256)) {
      while (!comm.empty() && comm.back() == '\n') comm.pop_back();
    }
    process.comm = std::move(comm);
    out.push_back(std::move(process));
  }
  ::closedir(proc);
  return out;
}

std::error_code find_socket_owners(const Endpoint& destination, DestinationOwners& out,
                                   const std::filesystem::path& proc_root) {
  DestinationSockets sockets(destination);
  if (auto ec = read_sock_diag(all_states_mask() & ~state_mask({TcpState::kListen}), sockets)) {
    return ec;
  }
  const auto processes = read_process_sockets(proc_root);
  DestinationOwners result;
  result.destination = destination;
  result.owners = match_socket_owners(sockets.inodes, processes);
  result.live_sockets = sockets.inodes.size();
  result.time_wait_sockets = sockets.time_wait;
  std::unordered_set<std::uint64_t> attributed;
  for (const ProcessSockets& p : processes) {
    for (const std::uint64_t inode : p.inodes) {
      if (sockets.inodes.count(inode) != 0) attributed.insert(inode);
    }
  }
  result.unattributed_sockets = result.live_sockets - attributed.size();
  out = std::move(result);
  return {};
}

}  // namespace connwatch::kernel
