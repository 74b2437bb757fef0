#include "probes/kernel/network_namespaces.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <map>
#include <unordered_set>

#include "probes/kernel/namespace_naming.h"
#include "probes/kernel/proc_file.h"

namespace connwatch::kernel {
namespace {

constexpr std::size_t kHandlesPerNamespace = 4;
constexpr std::size_t kCgroupFilesTried = 4;
constexpr decltype(statfs::f_type) kNsfsMagic = 0x6e736673;  // NSFS_MAGIC, linux/magic.h

std::optional<std::uint64_t> namespace_of(const std::filesystem::path& link) {
  std::array<char, 64> target{};
  const ssize_t n = ::readlink(link.c_str(), target.data(), target.size() - 1);
  if (n <= 0) return std::nullopt;
  return parse_namespace_link(std::string_view(target.data(), static_cast<std::size_t>(n)));
}

std::optional<int> pid_of(const std::string& name) {
  if (name.empty() || name.size() > 9) return std::nullopt;
  int pid = 0;
  for (const char c : name) {
    if (c < '0' || c > '9') return std::nullopt;
    pid = pid * 10 + (c - '0');
  }
  return pid;
}

struct Found {
  std::string bind_mount_name;
  std::filesystem::path bind_mount;
  std::vector<int> pids;
};

}  // namespace

NamespaceDirectory::NamespaceDirectory(std::filesystem::path proc_root,
                                       std::filesystem::path run_netns,
                                       std::filesystem::path pod_logs)
    : proc_root_(std::move(proc_root)),
      run_netns_(std::move(run_netns)),
      pod_logs_(std::move(pod_logs)) {}

NamespaceDiscovery NamespaceDirectory::discover(bool all) {
  NamespaceDiscovery out;
  const auto self = namespace_of(proc_root_ / "self/ns/net");
  const auto pid1 = namespace_of(proc_root_ / "1/ns/net");
  std::map<std::uint64_t, Found> found;
  if (self) found[*self];
  if (all) {
    std::error_code walk;
    for (std::filesystem::directory_iterator it(proc_root_, walk), end; !walk && it != end;
         it.increment(walk)) {
      const auto pid = pid_of(it->path().filename().string());
      if (!pid) continue;
      const auto inode = namespace_of(it->path() / "ns/net");
      if (!inode) {
        // EACCES: another user's process without CAP_SYS_PTRACE; ENOENT: it exited meanwhile.
        if (errno == EACCES || errno == EPERM) ++out.hidden_processes;
        continue;
      }
      auto& f = found[*inode];
      if (f.pids.size() < kCgroupFilesTried) f.pids.push_back(*pid);
    }
  }
  // Bind mounts name namespaces (the agent's own too, when it runs in one `ip netns add` made).
  std::error_code ec;
  for (std::filesystem::directory_iterator it(run_netns_, ec), end; !ec && it != end;
       it.increment(ec)) {
    // Only live bind mounts: a leftover file that is no longer mounted is not a namespace.
    struct statfs fs {};
    if (::statfs(it->path().c_str(), &fs) != 0 || fs.f_type != kNsfsMagic) continue;
    struct stat st {};
    if (::stat(it->path().c_str(), &st) != 0) continue;
    const auto inode = static_cast<std::uint64_t>(st.st_ino);
    if (!all && !(self && inode == *self)) continue;
    auto& f = found[inode];
    if (!f.bind_mount_name.empty()) continue;  // two names for one namespace: keep the first
    f.bind_mount_name = it->path().filename().string();
    f.bind_mount = it->path();
  }

  std::unordered_set<std::string> used;
  std::unordered_map<std::uint64_t, std::string> kept;
  for (const auto& [inode, f] : found) {
    NetworkNamespace ns;
    ns.inode = inode;
    ns.self = self && inode == *self;
    ns.name = name_of(inode, f.bind_mount_name, f.pids, pid1.value_or(0));
    // Two namespaces may claim one name (a pod's two sandboxes during a restart): the later by
    // inode falls back to its inode, so no two series share a label set.
    if (!used.insert(ns.name).second) ns.name = "netns:" + std::to_string(inode);
    kept[inode] = ns.name;
    if (!f.bind_mount.empty()) ns.handles.push_back(f.bind_mount);
    for (const int pid : f.pids) {
      if (ns.handles.size() >= kHandlesPerNamespace) break;
      ns.handles.push_back(proc_root_ / std::to_string(pid) / "ns/net");
    }
    if (ns.self) ns.handles.insert(ns.handles.begin(), proc_root_ / "self/ns/net");
    out.namespaces.push_back(std::move(ns));
  }
  std::stable_partition(out.namespaces.begin(), out.namespaces.end(),
                        [](const NetworkNamespace& ns) { return ns.self; });
  names_ = std::move(kept);
  return out;
}

std::string NamespaceDirectory::name_of(std::uint64_t inode, const std::string& bind_mount_name,
                                        const std::vector<int>& pids, std::uint64_t pid1_inode) {
  NamespaceFacts facts;
  facts.inode = inode;
  facts.bind_mount_name = bind_mount_name;
  facts.is_pid1s = inode == pid1_inode;
  if (!facts.bind_mount_name.empty() || facts.is_pid1s) return namespace_name(facts);
  if (const auto it = names_.find(inode); it != names_.end() && !it->second.starts_with("netns:")) {
    return it->second;  // a pod or container keeps its name; an inode may yet learn one
  }
  for (const int pid : pids) {
    std::string cgroup;
    if (read_proc_file(proc_root_ / std::to_string(pid) / "cgroup", cgroup)) continue;
    if (!facts.pod) {
      if (const auto uid = pod_uid_from_cgroup(cgroup)) {
        std::vector<std::string> dirs;
        std::error_code ec;
        for (std::filesystem::directory_iterator it(pod_logs_, ec), end; !ec && it != end;
             it.increment(ec)) {
          dirs.push_back(it->path().filename().string());
        }
        facts.pod = pod_name_from_log_dirs(*uid, dirs);
      }
    }
    if (!facts.container_id) facts.container_id = container_id_from_cgroup(cgroup);
    if (facts.pod) break;
  }
  return namespace_name(facts);
}

std::error_code enter_network_namespace(const NetworkNamespace& ns) {
  std::error_code last = std::make_error_code(std::errc::no_such_file_or_directory);
  for (const auto& handle : ns.handles) {
    const int fd = ::open(handle.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      last = {errno, std::system_category()};
      continue;
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0 || static_cast<std::uint64_t>(st.st_ino) != ns.inode) {
      ::close(fd);  // the pid was reused by a process in another namespace
      last = {ESTALE, std::system_category()};
      continue;
    }
    const int rc = ::setns(fd, CLONE_NEWNET);
    const int saved = errno;
    ::close(fd);
    if (rc == 0) return {};
    return {saved, std::system_category()};
  }
  return last;
}

}  // namespace connwatch::kernel
