#include "probes/kernel/namespace_naming.h"

#include <array>
#include <vector>

#include "probes/kernel/proc_file.h"

namespace connwatch::kernel {
namespace {

bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

bool all_hex(std::string_view s) {
  for (const char c : s) {
    if (!is_hex(c)) return false;
  }
  return !s.empty();
}

// The cgroup paths of the file: the third field of each "ID:CONTROLLERS:PATH" line.
std::vector<std::string_view> cgroup_paths(std::string_view file) {
  std::vector<std::string_view> out;
  while (!file.empty()) {
    const auto nl = file.find('\n');
    const std::string_view line = file.substr(0, nl);
    file = nl == std::string_view::npos ? std::string_view{} : file.substr(nl + 1);
    const auto first = line.find(':');
    if (first == std::string_view::npos) continue;
    const auto second = line.find(':', first + 1);
    if (second == std::string_view::npos) continue;
    out.push_back(line.substr(second + 1));
  }
  return out;
}

std::vector<std::string_view> segments(std::string_view path) {
  std::vector<std::string_view> out;
  while (!path.empty()) {
    const auto slash = path.find('/');
    const std::string_view segment = path.substr(0, slash);
    if (!segment.empty()) out.push_back(segment);
    if (slash == std::string_view::npos) break;
    path = path.substr(slash + 1);
  }
  return out;
}

// A UUID (8-4-4-4-12 hex, '-' or '_' between) or 32 hex digits, normalised to dashes.
std::optional<std::string> pod_uid(std::string_view text) {
  if (text.size() == 32 && all_hex(text)) return std::string(text);
  if (text.size() != 36) return std::nullopt;
  std::string out(text);
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (out[i] != '-' && out[i] != '_') return std::nullopt;
      out[i] = '-';
    } else if (!is_hex(out[i])) {
      return std::nullopt;
    }
  }
  return out;
}

}  // namespace

std::optional<std::string> pod_uid_from_cgroup(std::string_view cgroup_file) {
  for (const std::string_view path : cgroup_paths(cgroup_file)) {
    for (std::string_view segment : segments(path)) {
      if (segment.ends_with(".slice")) segment.remove_suffix(6);
      // "pod<UID>" (cgroupfs) or "kubepods-burstable-pod<UID>" (systemd): the UID ends the segment.
      for (auto at = segment.find("pod"); at != std::string_view::npos;
           at = segment.find("pod", at + 1)) {
        if (at != 0 && segment[at - 1] != '-') continue;
        if (auto uid = pod_uid(segment.substr(at + 3))) return uid;
      }
    }
  }
  return std::nullopt;
}

std::optional<std::string> container_id_from_cgroup(std::string_view cgroup_file) {
  static constexpr std::array<std::string_view, 6> kPrefixes = {
      "docker-", "cri-containerd-", "crio-", "libpod-", "containerd-", "nerdctl-"};
  std::optional<std::string> found;
  for (const std::string_view path : cgroup_paths(cgroup_file)) {
    for (std::string_view segment : segments(path)) {
      if (segment.ends_with(".scope")) segment.remove_suffix(6);
      if (segment.starts_with("crio-conmon-")) continue;
      for (const std::string_view prefix : kPrefixes) {
        if (segment.starts_with(prefix)) {
          segment.remove_prefix(prefix.size());
          break;
        }
      }
      // The deepest match wins: a pod's cgroup holds the pod, then the container.
      if (segment.size() == 64 && all_hex(segment)) found = std::string(segment);
    }
    if (found) return found;
  }
  return found;
}

std::optional<std::string> pod_name_from_log_dirs(std::string_view uid,
                                                  std::span<const std::string> directory_names) {
  for (const std::string& name : directory_names) {
    const std::string_view dir = name;
    if (dir.size() <= uid.size() + 1 || !dir.ends_with(uid)) continue;
    const std::string_view rest = dir.substr(0, dir.size() - uid.size());
    if (!rest.ends_with('_')) continue;
    const std::string_view ns_pod = rest.substr(0, rest.size() - 1);
    const auto sep = ns_pod.find('_');
    if (sep == std::string_view::npos || sep == 0 || sep + 1 == ns_pod.size()) continue;
    if (ns_pod.find('_', sep + 1) != std::string_view::npos) continue;
    return std::string(ns_pod.substr(0, sep)) + "/" + std::string(ns_pod.substr(sep + 1));
  }
  return std::nullopt;
}

std::string namespace_name(const NamespaceFacts& facts) {
  if (!facts.bind_mount_name.empty()) return facts.bind_mount_name;
  if (facts.is_pid1s) return "host";
  if (facts.pod) return *facts.pod;
  if (facts.container_id && facts.container_id->size() >= 12) {
    return "container:" + facts.container_id->substr(0, 12);
  }
  return "netns:" + std::to_string(facts.inode);
}

std::optional<std::uint64_t> parse_namespace_link(std::string_view link_target) {
  if (!link_target.starts_with("net:[") || !link_target.ends_with(']')) return std::nullopt;
  std::uint64_t inode = 0;
  if (!parse_decimal(link_target.substr(5, link_target.size() - 6), inode)) return std::nullopt;
  return inode;
}

}  // namespace connwatch::kernel
