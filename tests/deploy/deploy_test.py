#!/usr/bin/env python3
"""The deployment files say what docs/DEPLOY.md promises: the systemd unit's least privilege and
sandboxing, the Kubernetes manifests' shape and capabilities, and the `cmake --install` layout
(the installed agent accepts the installed config)."""
import configparser
import os
import re
import shutil
import subprocess
import tempfile
import unittest
from pathlib import Path

import yaml

from support import BINARY_DIR, SOURCE_DIR

DEPLOY = Path(SOURCE_DIR) / "deploy"


def unit_file():
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # keys are case-sensitive in systemd
    parser.read(DEPLOY / "systemd" / "connwatch.service")
    return parser


class Systemd(unittest.TestCase):
    def test_least_privilege_and_sandboxing(self):
        service = unit_file()["Service"]
        self.assertEqual(service["User"], "connwatch")
        # Capture's two, and the two that read every network namespace (issue 16).
        wanted = {"CAP_NET_RAW", "CAP_NET_ADMIN", "CAP_SYS_ADMIN", "CAP_SYS_PTRACE"}
        self.assertEqual(set(service["AmbientCapabilities"].split()), wanted)
        self.assertEqual(set(service["CapabilityBoundingSet"].split()), wanted)
        self.assertEqual(service["RestrictNamespaces"], "net")  # setns into net namespaces only
        self.assertEqual(service["NoNewPrivileges"], "yes")
        self.assertEqual(service["ProtectSystem"], "strict")
        self.assertEqual(service["ProtectHome"], "yes")
        self.assertIn("AF_PACKET", service["RestrictAddressFamilies"])
        self.assertIn("AF_NETLINK", service["RestrictAddressFamilies"])
        self.assertIn("--config.file /etc/connwatch/agent.toml", service["ExecStart"])
        self.assertIn("--check-config", service["ExecStartPre"])
        self.assertEqual(service["ExecReload"], "/bin/kill -HUP $MAINPID")
        self.assertEqual(unit_file()["Install"]["WantedBy"], "multi-user.target")


class Kubernetes(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        docs = [d for d in yaml.safe_load_all((DEPLOY / "kubernetes" / "connwatch.yaml").read_text())
                if d]
        cls.by_kind = {d["kind"]: d for d in docs if d["kind"] != "Service"}
        cls.services = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}
        cls.by_kind["Service"] = cls.services["connwatch"]

    def test_every_object_is_well_formed(self):
        self.assertEqual(set(self.by_kind),
                         {"Namespace", "ConfigMap", "DaemonSet", "Service", "PodMonitor"})
        for kind, doc in self.by_kind.items():
            with self.subTest(kind=kind):
                self.assertIn("apiVersion", doc)
                self.assertTrue(doc["metadata"]["name"])
                if kind != "Namespace":
                    self.assertEqual(doc["metadata"]["namespace"], "connwatch")

    def test_daemonset_runs_on_the_host_network_and_reads_every_pods_namespace(self):
        ds = self.by_kind["DaemonSet"]
        spec = ds["spec"]["template"]["spec"]
        self.assertTrue(spec["hostNetwork"])
        self.assertTrue(spec["hostPID"])  # every pod's /proc/PID/ns/net
        self.assertEqual(ds["spec"]["selector"]["matchLabels"],
                         ds["spec"]["template"]["metadata"]["labels"])
        (container,) = spec["containers"]
        sc = container["securityContext"]
        self.assertEqual(sc["capabilities"]["drop"], ["ALL"])
        self.assertEqual(set(sc["capabilities"]["add"]),
                         {"NET_RAW", "NET_ADMIN", "SYS_ADMIN", "SYS_PTRACE"})
        mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
        self.assertTrue(mounts["/var/log/pods"]["readOnly"])  # pod names
        self.assertTrue(sc["readOnlyRootFilesystem"])
        self.assertFalse(sc["allowPrivilegeEscalation"])
        self.assertEqual(container["ports"][0]["containerPort"], 9873)
        self.assertEqual(container["readinessProbe"]["httpGet"]["path"], "/-/healthy")

    def test_daemonset_runs_the_image_package_sh_builds(self):
        """scripts/package.sh tags connwatch:VERSION, VERSION being the project's (CMakeLists)."""
        version = re.search(r"project\(connwatch VERSION (\S+)",
                            (Path(SOURCE_DIR) / "CMakeLists.txt").read_text()).group(1)
        (container,) = self.by_kind["DaemonSet"]["spec"]["template"]["spec"]["containers"]
        self.assertEqual(container["image"], f"connwatch:{version}")
        self.assertIn(f'IMAGE="connwatch:$VERSION"',
                      (Path(SOURCE_DIR) / "scripts" / "package.sh").read_text())
        self.assertEqual(container["args"], ["--config.file=/etc/connwatch/agent.toml"])

    def test_service_and_podmonitor_select_the_daemonset(self):
        labels = self.by_kind["DaemonSet"]["spec"]["template"]["metadata"]["labels"]
        self.assertEqual(self.by_kind["Service"]["spec"]["selector"], labels)
        pm = self.by_kind["PodMonitor"]
        self.assertEqual(pm["spec"]["selector"]["matchLabels"], labels)
        self.assertEqual(pm["spec"]["podMetricsEndpoints"][0]["port"], "metrics")

    def test_probe_jobs_reach_one_agent_not_every_agent(self):
        """The headless Service resolves to every agent: /probe through it spreads each target's
        scrapes over cold pools. connwatch-probe answers with the agent on Prometheus' node."""
        self.assertEqual(set(self.services), {"connwatch", "connwatch-probe"})
        probe = self.services["connwatch-probe"]["spec"]
        self.assertEqual(probe["internalTrafficPolicy"], "Local")
        self.assertNotEqual(probe.get("clusterIP"), "None")
        self.assertEqual(probe["selector"],
                         self.by_kind["DaemonSet"]["spec"]["template"]["metadata"]["labels"])
        config = yaml.safe_load((DEPLOY / "prometheus" / "connwatch-probe.yml").read_text())
        for job in config["scrape_configs"]:
            with self.subTest(job=job["job_name"]):
                (address,) = [r["replacement"] for r in job["relabel_configs"]
                              if r.get("target_label") == "__address__"]
                self.assertEqual(address, "connwatch-probe.connwatch.svc:9873")

    def test_the_configmap_is_a_valid_agent_config(self):
        text = self.by_kind["ConfigMap"]["data"]["agent.toml"]
        with tempfile.NamedTemporaryFile("w", suffix=".toml") as f:
            f.write(text)
            f.flush()
            proc = subprocess.run([os.path.join(BINARY_DIR, "agent", "agent"), "--check-config",
                                   "--config", f.name], capture_output=True, text=True)
        self.assertEqual(proc.returncode, 0, proc.stderr)


class ProbeScrapeConfig(unittest.TestCase):
    """deploy/prometheus: the Kubernetes scrape configuration for /probe and its module file."""

    CONFIG = DEPLOY / "prometheus" / "connwatch-probe.yml"
    MODULES = DEPLOY / "prometheus" / "blackbox.yml"

    def promtool_check(self, path):
        return subprocess.run(["promtool", "check", "config", str(path)], capture_output=True,
                              text=True, timeout=60)

    def test_promtool_accepts_the_kubernetes_scrape_config(self):
        if not shutil.which("promtool"):
            self.skipTest("promtool is not installed (scripts/install-deps.sh)")
        proc = self.promtool_check(self.CONFIG)
        output = proc.stdout + proc.stderr
        if proc.returncode != 0 and "field kubernetes_sd_configs not found" in output:
            # Debian builds Prometheus without the Kubernetes discovery: promtool then checks
            # everything else (relabel rules, params, paths) with each kubernetes_sd_configs
            # swapped for a static target, and the roles are checked here.
            config = yaml.safe_load(self.CONFIG.read_text())
            for job in config["scrape_configs"]:
                for sd in job.pop("kubernetes_sd_configs"):
                    self.assertIn(sd["role"], ("node", "service", "pod", "endpoints",
                                               "endpointslice", "ingress"), job["job_name"])
                    prefix = f"__meta_kubernetes_{sd['role']}_"
                    for rule in job["relabel_configs"]:
                        for label in rule.get("source_labels", []):
                            if label.startswith("__meta_kubernetes_") and label != \
                                    "__meta_kubernetes_namespace":
                                self.assertTrue(label.startswith(prefix), (job["job_name"], label))
                job["static_configs"] = [{"targets": ["placeholder.test:80"]}]
            with tempfile.NamedTemporaryFile("w", suffix=".yml") as f:
                yaml.safe_dump(config, f)
                f.flush()
                proc = self.promtool_check(f.name)
                output = proc.stdout + proc.stderr
        self.assertEqual(proc.returncode, 0, output)

    def test_every_job_uses_blackboxs_relabelling_and_a_module_of_the_module_file(self):
        modules = yaml.safe_load(self.MODULES.read_text())["modules"]
        for job in yaml.safe_load(self.CONFIG.read_text())["scrape_configs"]:
            with self.subTest(job=job["job_name"]):
                self.assertEqual(job["metrics_path"], "/probe")
                (module,) = job["params"]["module"]
                self.assertIn(module, modules)
                rules = job["relabel_configs"]
                self.assertTrue(any(r.get("target_label") == "__param_target" for r in rules))
                self.assertTrue(any(r.get("target_label") == "__address__" and
                                    r.get("replacement", "").endswith(":9873") for r in rules))

    def test_the_agent_and_blackbox_exporter_both_accept_the_module_file(self):
        proc = subprocess.run([os.path.join(BINARY_DIR, "agent", "agent"), "--check-config",
                               "--config", str(Path(SOURCE_DIR) / "config/examples/full.toml"),
                               "--probe.config.file", str(self.MODULES)],
                              capture_output=True, text=True)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        if shutil.which("prometheus-blackbox-exporter"):
            proc = subprocess.run(["prometheus-blackbox-exporter", "--config.check",
                                   f"--config.file={self.MODULES}"], capture_output=True,
                                  text=True, timeout=30)
            self.assertEqual(proc.returncode, 0, proc.stderr)


class InstallLayout(unittest.TestCase):
    def test_cmake_install_puts_everything_where_deploy_md_says(self):
        with tempfile.TemporaryDirectory() as root:
            proc = subprocess.run(["cmake", "--install", BINARY_DIR, "--prefix", "/usr/local"],
                                  env={**os.environ, "DESTDIR": root}, capture_output=True,
                                  text=True, timeout=60)
            self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
            r = Path(root)
            for path in ("usr/local/bin/agent", "etc/connwatch/agent.toml",
                         "etc/connwatch/examples/full.toml",
                         "usr/local/lib/systemd/system/connwatch.service",
                         "usr/local/share/connwatch/dashboards/grafana/resets.json",
                         "usr/local/share/connwatch/dashboards/grafana/sockets.json",
                         "usr/local/share/connwatch/dashboards/grafana/probes.json",
                         "usr/local/share/connwatch/dashboards/rules/connwatch.rules.yml",
                         "usr/local/share/connwatch/dashboards/RUNBOOK.md",
                         "usr/local/share/connwatch/deploy/kubernetes/connwatch.yaml",
                         "usr/local/share/connwatch/deploy/prometheus/connwatch-probe.yml",
                         "usr/local/share/connwatch/deploy/prometheus/blackbox.yml",
                         "usr/local/share/connwatch/report.schema.json",
                         "usr/local/share/doc/connwatch/DEPLOY.md"):
                self.assertTrue((r / path).is_file(), path)
            agent = r / "usr/local/bin/agent"
            self.assertTrue(os.access(agent, os.X_OK))
            proc = subprocess.run([str(agent), "--check-config", "--config",
                                   str(r / "etc/connwatch/agent.toml")],
                                  capture_output=True, text=True)
            self.assertEqual(proc.returncode, 0, proc.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
