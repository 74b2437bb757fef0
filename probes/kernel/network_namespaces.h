// Finding the host's network namespaces and entering one (SPEC §4 "Kernel sockets", TCP-NOTES §7).
//
// Discovery: every distinct namespace behind /proc/*/ns/net (de-duplicated by inode) and every
// /run/netns/NAME bind mount, named by namespace_naming.h. Names are remembered by inode, so the
// cgroup files of a namespace are read once, when it first appears. Reading another user's
// /proc/PID/ns/net needs CAP_SYS_PTRACE: those processes are counted in `hidden_processes`.
//
// Entering: setns(CLONE_NEWNET) on the calling thread, which needs CAP_SYS_ADMIN. Call it only on a
// thread of its own that ends after the collection: the agent's other threads never move.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <system_error>
#include <unordered_map>
#include <vector>

namespace connwatch::kernel {

struct NetworkNamespace {
  std::uint64_t inode = 0;
  std::string name;   // the `netns` label value
  bool self = false;  // the agent's own
  // What to open for setns, in order: /run/netns/NAME, then /proc/PID/ns/net of a few processes
  // inside (one may exit between discovery and collection).
  std::vector<std::filesystem::path> handles;
};

struct NamespaceDiscovery {
  std::vector<NetworkNamespace> namespaces;  // the agent's own first, then by inode
  std::size_t hidden_processes = 0;
};

class NamespaceDirectory {
 public:
  explicit NamespaceDirectory(std::filesystem::path proc_root = "/proc",
                              std::filesystem::path run_netns = "/run/netns",
                              std::filesystem::path pod_logs = "/var/log/pods");

  // `all` false: only the agent's own namespace. Never throws; unreadable entries are skipped.
  NamespaceDiscovery discover(bool all);

 private:
  std::string name_of(std::uint64_t inode, const std::string& bind_mount_name,
                      const std::vector<int>& pids, std::uint64_t pid1_inode);

  std::filesystem::path proc_root_;
  std::filesystem::path run_netns_;
  std::filesystem::path pod_logs_;
  std::unordered_map<std::uint64_t, std::string> names_;  // by inode, pruned each discovery
};

// Moves the calling thread into `ns` (the first handle that opens and is still that namespace).
// Errors: EPERM without CAP_SYS_ADMIN, ENOENT/ESRCH when the namespace vanished, ESTALE when every
// handle now names another namespace.
std::error_code enter_network_namespace(const NetworkNamespace& ns);

}  // namespace connwatch::kernel
