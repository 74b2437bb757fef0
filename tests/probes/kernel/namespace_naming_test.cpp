#include "probes/kernel/namespace_naming.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/probes/kernel/testdata.h"

namespace connwatch::kernel {
namespace {

using testing::read_testdata_text;

std::string cgroup(const char* name) { return read_testdata_text(std::string("cgroup/") + name); }

// Each runtime's /proc/PID/cgroup in the shape it writes (cgroup v1 and v2; systemd and cgroupfs
// drivers): the pod UID, with dashes, where Kubernetes put the process.
TEST(NamespaceNaming, FindsThePodUidWithEitherCgroupDriver) {
  EXPECT_EQ(pod_uid_from_cgroup(cgroup("containerd_kubernetes_systemd_v2.txt")),
            "3b0c2a0e-8a1f-4d6b-9f0e-2f1c5a7d8e9f");
  EXPECT_EQ(pod_uid_from_cgroup(cgroup("containerd_kubernetes_cgroupfs_v1.txt")),
            "7d5e9c1a-2b3c-4d5e-8f9a-0b1c2d3e4f5a");
  EXPECT_EQ(pod_uid_from_cgroup(cgroup("crio_kubernetes_systemd_v1.txt")),
            "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d");
  EXPECT_EQ(pod_uid_from_cgroup(cgroup("static_pod_cgroupfs_v2.txt")),
            "6d0d5f6b7a9b4c3e8f1a2b3c4d5e6f70");
}

TEST(NamespaceNaming, FindsNoPodOutsideKubernetes) {
  for (const char* name :
       {"docker_cgroupfs_v1.txt", "docker_systemd_v2.txt", "podman_rootful_systemd_v2.txt",
        "podman_cgroupfs_v1.txt", "host_systemd_v2.txt", "host_service_systemd_v1.txt",
        "sandbox_hybrid_v1_v2.txt"}) {
    EXPECT_FALSE(pod_uid_from_cgroup(cgroup(name))) << name;
  }
  // "kubepods" itself is not a pod.
  EXPECT_FALSE(pod_uid_from_cgroup("0::/kubepods.slice/kubepods-burstable.slice\n"));
}

TEST(NamespaceNaming, FindsTheContainerIdOfEachRuntime) {
  EXPECT_EQ(container_id_from_cgroup(cgroup("docker_cgroupfs_v1.txt")),
            "4f1e8d2c9b7a6e5d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d");
  EXPECT_EQ(container_id_from_cgroup(cgroup("docker_systemd_v2.txt")),
            "9c3b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b");
  EXPECT_EQ(container_id_from_cgroup(cgroup("containerd_kubernetes_systemd_v2.txt")),
            "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90");
  EXPECT_EQ(container_id_from_cgroup(cgroup("containerd_kubernetes_cgroupfs_v1.txt")),
            "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
  EXPECT_EQ(container_id_from_cgroup(cgroup("crio_kubernetes_systemd_v1.txt")),
            "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210");
  EXPECT_EQ(container_id_from_cgroup(cgroup("podman_rootful_systemd_v2.txt")),
            "7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d");
  EXPECT_EQ(container_id_from_cgroup(cgroup("podman_cgroupfs_v1.txt")),
            "7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d");
}

TEST(NamespaceNaming, TakesNeitherTheMonitorNorTheHostForAContainer) {
  EXPECT_FALSE(container_id_from_cgroup(cgroup("crio_conmon_systemd_v2.txt")));
  EXPECT_FALSE(container_id_from_cgroup(cgroup("host_systemd_v2.txt")));
  EXPECT_FALSE(container_id_from_cgroup(cgroup("host_service_systemd_v1.txt")));
  // A 32-hex cgroup name (this sandbox's) is not a runtime's 64-hex container id.
  EXPECT_FALSE(container_id_from_cgroup(cgroup("sandbox_hybrid_v1_v2.txt")));
}

TEST(NamespaceNaming, NamesThePodFromKubeletsLogDirectories) {
  const std::vector<std::string> dirs = {
      "kube-system_coredns-5d78c9869d-8x2lq_11111111-2222-3333-4444-555555555555",
      "shop_checkout-7f9c_3b0c2a0e-8a1f-4d6b-9f0e-2f1c5a7d8e9f",
  };
  EXPECT_EQ(pod_name_from_log_dirs("3b0c2a0e-8a1f-4d6b-9f0e-2f1c5a7d8e9f", dirs),
            "shop/checkout-7f9c");
  EXPECT_FALSE(pod_name_from_log_dirs("7d5e9c1a-2b3c-4d5e-8f9a-0b1c2d3e4f5a", dirs));
}

TEST(NamespaceNaming, PrefersBindMountThenHostThenPodThenContainerThenInode) {
  NamespaceFacts f;
  f.inode = 4026532281;
  EXPECT_EQ(namespace_name(f), "netns:4026532281");
  f.container_id = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";
  EXPECT_EQ(namespace_name(f), "container:a1b2c3d4e5f6");
  f.pod = "shop/checkout-7f9c";
  EXPECT_EQ(namespace_name(f), "shop/checkout-7f9c");
  f.is_pid1s = true;
  EXPECT_EQ(namespace_name(f), "host");
  f.bind_mount_name = "blue";
  EXPECT_EQ(namespace_name(f), "blue");
}

TEST(NamespaceNaming, ReadsTheInodeOfANamespaceLink) {
  EXPECT_EQ(parse_namespace_link("net:[4026531840]"), 4026531840U);
  EXPECT_FALSE(parse_namespace_link("mnt:[4026531840]"));
  EXPECT_FALSE(parse_namespace_link("net:[]"));
  EXPECT_FALSE(parse_namespace_link("net:[12"));
}

}  // namespace
}  // namespace connwatch::kernel
