// How a network namespace is named in the `netns` label (SPEC §4), as pure functions over what
// /proc/PID/cgroup and /var/log/pods hold, so each runtime's captured files are unit tests:
//   /run/netns/NAME -> NAME; PID 1's namespace -> "host"; a Kubernetes pod -> NAMESPACE/POD (the
//   pod UID in the cgroup path, looked up in /var/log/pods/NAMESPACE_POD_UID); a container ->
//   "container:" + 12 hex digits of its id (docker, containerd, CRI-O, podman); else
//   "netns:" + the namespace inode.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace connwatch::kernel {

// The pod UID in a /proc/PID/cgroup file (any line, cgroup v1 or v2): "pod<UID>" as a path
// segment (cgroupfs driver) or inside "kubepods-<qos>-pod<UID>.slice" (systemd driver, dashes
// written as underscores). Returned with dashes, as kubelet writes it in /var/log/pods. UIDs are
// 36-character UUIDs or, for static pods, 32 hex digits.
std::optional<std::string> pod_uid_from_cgroup(std::string_view cgroup_file);

// The container id (64 hex digits, lower case) in a /proc/PID/cgroup file: the deepest path segment
// that is the id alone (cgroupfs: /docker/ID, /kubepods/.../ID, containerd's /NAMESPACE/ID) or the
// id behind a runtime prefix (docker-, cri-containerd-, crio-, libpod-, containerd-, nerdctl-)
// with an optional ".scope". crio-conmon-ID is the monitor, not the container: skipped.
std::optional<std::string> container_id_from_cgroup(std::string_view cgroup_file);

// The "NAMESPACE/POD" of `uid` among kubelet's /var/log/pods directory names
// ("NAMESPACE_POD_UID"; neither part may contain '_', DNS-1123).
std::optional<std::string> pod_name_from_log_dirs(std::string_view uid,
                                                  std::span<const std::string> directory_names);

// What is known about one namespace, and the name that follows from it.
struct NamespaceFacts {
  std::uint64_t inode = 0;
  std::string bind_mount_name;  // the NAME of /run/netns/NAME, or empty
  bool is_pid1s = false;
  std::optional<std::string> pod;           // NAMESPACE/POD
  std::optional<std::string> container_id;  // 64 hex digits
};
std::string namespace_name(const NamespaceFacts& facts);

// "net:[4026531840]" (the /proc/PID/ns/net link) -> 4026531840.
std::optional<std::uint64_t> parse_namespace_link(std::string_view link_target);

}  // namespace connwatch::kernel
