#!/usr/bin/env python3
"""scripts/package.sh as an operator uses its output (SPEC §7, issue 18): the .deb installed into a
scratch root with dpkg (its own dpkg database and /etc, so this machine is left as it was), the
packaged binary run from there and scraped, the config kept through remove and reinstall; the OCI
image run with podman and the runc runtime, scraped, and `--diagnose` run inside it with NET_RAW.

The packaged binary is the build's own agent (package.sh --build-dir), so nothing is compiled here.
"""
import json
import os
import re
import resource
import shutil
import subprocess
import tempfile
import time
import unittest
from pathlib import Path

from support import BINARY_DIR, SANITIZED, SOURCE_DIR, free_port, http, parse_metrics, skip

PACKAGE_SH = Path(SOURCE_DIR) / "scripts" / "package.sh"
BIN = "usr/bin/connwatch-agent"


def podman_problem():
    """Why podman cannot run containers here, or None."""
    if not shutil.which("podman") or not shutil.which("runc"):
        return "podman or runc is not installed (scripts/install-deps.sh installs them)"
    r = subprocess.run(["podman", "--runtime", "runc", "info"], capture_output=True, text=True,
                       timeout=60)
    if r.returncode != 0:
        return f"podman cannot run here: {r.stderr.strip()[:300]}"
    return None


def ulimits():
    """--ulimit flags at or below this process's hard limits (TCP-NOTES §7)."""
    nofile = min(resource.getrlimit(resource.RLIMIT_NOFILE)[1], 4096)
    nproc = min(resource.getrlimit(resource.RLIMIT_NPROC)[1], 1024)
    return ["--ulimit", f"nofile={nofile}:{nofile}", "--ulimit", f"nproc={nproc}:{nproc}"]


def wait_for_metrics(port, proc_alive, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc_alive():
            raise AssertionError("the agent exited before /metrics answered")
        try:
            status, body, headers = http("GET", f"http://127.0.0.1:{port}/metrics", timeout=2)
            if status == 200:
                return body, headers
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"/metrics on port {port} did not answer in {timeout}s")


class Package(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.out = tempfile.mkdtemp(prefix="connwatch-package-")
        cls.podman_problem = podman_problem()
        argv = [str(PACKAGE_SH), "--build-dir", BINARY_DIR, "--out", cls.out, "--no-install"]
        if cls.podman_problem:
            argv.append("--no-image")
        start = time.monotonic()
        r = subprocess.run(argv, capture_output=True, text=True, timeout=300)
        cls.seconds = time.monotonic() - start
        if r.returncode != 0:
            raise AssertionError(f"package.sh failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
        cls.stderr = r.stderr
        cls.lines = r.stdout.splitlines()
        cls.deb = cls.lines[0]
        cls.image = None if cls.podman_problem else cls.lines[1]
        print(f"package.sh took {cls.seconds:.1f} s; {cls.deb}: "
              f"{os.path.getsize(cls.deb) / 1024:.0f} KiB", flush=True)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.out, ignore_errors=True)

    def dpkg_field(self, field):
        return subprocess.run(["dpkg-deb", "-f", self.deb, field], capture_output=True, text=True,
                              check=True).stdout.strip()

    def deb_member(self, path):
        """The text of one file inside the .deb."""
        with tempfile.TemporaryDirectory() as d:
            subprocess.run(["dpkg-deb", "-x", self.deb, d], check=True)
            return (Path(d) / path).read_text()

    # --- what package.sh prints and builds ------------------------------------------------------

    def test_prints_the_deb_path_and_the_image_name_one_per_line(self):
        version = subprocess.run([os.path.join(BINARY_DIR, "agent", "agent"), "--version"],
                                 capture_output=True, text=True).stdout.split()[2]
        arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True,
                              text=True).stdout.strip()
        self.assertEqual(self.deb, os.path.join(self.out, f"connwatch_{version}_{arch}.deb"))
        self.assertTrue(os.path.isfile(self.deb))
        if self.podman_problem:
            self.assertEqual(len(self.lines), 1, self.lines)
        else:
            self.assertEqual(self.lines, [self.deb, f"connwatch:{version}"])

    def test_deb_holds_binary_conffile_unit_dashboards_and_docs(self):
        listing = subprocess.run(["dpkg-deb", "-c", self.deb], capture_output=True, text=True,
                                 check=True).stdout
        paths = {line.split()[-1].lstrip(".") for line in listing.splitlines()}
        for path in ("/usr/bin/connwatch-agent", "/etc/connwatch/agent.toml",
                     "/lib/systemd/system/connwatch.service",
                     "/usr/share/connwatch/dashboards/grafana/resets.json",
                     "/usr/share/connwatch/dashboards/rules/connwatch.rules.yml",
                     "/usr/share/connwatch/dashboards/RUNBOOK.md",
                     "/usr/share/connwatch/deploy/kubernetes/connwatch.yaml",
                     "/usr/share/connwatch/report.schema.json",
                     "/usr/share/doc/connwatch/REFERENCE.md",
                     "/usr/share/doc/connwatch/examples/full.toml"):
            self.assertIn(path, paths)
        with tempfile.TemporaryDirectory() as d:
            subprocess.run(["dpkg-deb", "-e", self.deb, d], check=True)
            self.assertEqual(Path(d, "conffiles").read_text(), "/etc/connwatch/agent.toml\n")

    def test_systemd_unit_runs_the_packaged_binary(self):
        unit = self.deb_member("lib/systemd/system/connwatch.service")
        self.assertIn("\nExecStart=/usr/bin/connwatch-agent --config.file /etc/connwatch/agent.toml\n",
                      unit)
        self.assertIn("\nExecStartPre=/usr/bin/connwatch-agent --check-config --config.file "
                      "/etc/connwatch/agent.toml\n", unit)
        self.assertIn("\nUser=connwatch\n", unit)
        self.assertNotIn("/usr/local", unit)

    def test_every_dependency_is_a_package_this_machine_has(self):
        """Depends comes from dpkg-shlibdeps; each one is satisfied by what is installed here."""
        depends = self.dpkg_field("Depends")
        self.assertIn("libpcap0.8", depends)
        for dep in depends.split(", "):
            m = re.fullmatch(r"(\S+)(?: \((\S+) (\S+)\))?", dep)
            self.assertIsNotNone(m, dep)
            name, op, version = m.groups()
            installed = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", name],
                                       capture_output=True, text=True)
            self.assertEqual(installed.returncode, 0, f"{name} is not installed")
            if op:
                ok = subprocess.run(["dpkg", "--compare-versions", installed.stdout, op, version])
                self.assertEqual(ok.returncode, 0, f"{name} {installed.stdout} is not {op} {version}")

    # --- the .deb installed into a scratch root ---------------------------------------------------

    def scratch_root(self):
        root = Path(tempfile.mkdtemp(prefix="connwatch-root-"))
        self.addCleanup(shutil.rmtree, root, True)
        for d in ("var/lib/dpkg/info", "var/lib/dpkg/updates", "etc"):
            (root / d).mkdir(parents=True)
        (root / "var/lib/dpkg/status").touch()
        (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
        (root / "etc/group").write_text("root:x:0:\n")
        (root / "etc/shadow").write_text("root:*:19000:0:99999:7:::\n")
        (root / "etc/gshadow").write_text("root:*::\n")
        return root

    def dpkg(self, root, *args):
        # Maintainer scripts run on this machine with DPKG_ROOT set (no chroot: the scratch root
        # has no shell). The libraries are this machine's: test_every_dependency_... checks them.
        r = subprocess.run(["dpkg", f"--root={root}", "--force-script-chrootless",
                            "--force-depends", *args], capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return r

    def test_install_creates_the_user_and_the_binary_serves_metrics(self):
        root = self.scratch_root()
        self.dpkg(root, "-i", self.deb)
        passwd = (root / "etc/passwd").read_text()
        m = re.search(r"^connwatch:x:(\d+):(\d+):[^:]*:/nonexistent:/usr/sbin/nologin$", passwd,
                      re.M)
        self.assertIsNotNone(m, passwd)
        self.assertLess(int(m.group(1)), 1000)  # a system user
        self.assertIn(f"connwatch:x:{m.group(2)}:", (root / "etc/group").read_text())

        port = free_port()
        log = root / "agent.log"
        with open(log, "w") as out:
            proc = subprocess.Popen(
                [str(root / BIN), "--config.file", str(root / "etc/connwatch/agent.toml"),
                 "--web.listen-address", f"127.0.0.1:{port}", "--log.format", "json"],
                stdout=out, stderr=subprocess.STDOUT)
        try:
            body, headers = wait_for_metrics(port, lambda: proc.poll() is None)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
        samples = parse_metrics(body)
        names = {name for name, _ in samples}
        for family in ("connwatch_build_info", "connwatch_config_last_reload_successful",
                       "connwatch_config_last_reload_success_timestamp_seconds",
                       "process_cpu_seconds_total", "process_resident_memory_bytes",
                       "process_open_fds", "process_max_fds", "process_start_time_seconds",
                       "process_virtual_memory_bytes"):
            self.assertIn(family, names)
        lines = [json.loads(line) for line in log.read_text().splitlines()]
        listening = [e for e in lines if e["msg"] == "listening"]
        self.assertEqual(len(listening), 1, lines)
        self.assertEqual(listening[0]["port"], port)
        self.assertEqual(listening[0]["config"], str(root / "etc/connwatch/agent.toml"))

    def test_remove_keeps_an_edited_config_and_reinstall_does_not_overwrite_it(self):
        root = self.scratch_root()
        config = root / "etc/connwatch/agent.toml"
        self.dpkg(root, "-i", self.deb)
        edited = config.read_text().replace('log_level = "info"', 'log_level = "debug"')
        edited += "# edited by the operator\n"
        config.write_text(edited)
        self.dpkg(root, "-r", "connwatch")
        self.assertFalse((root / BIN).exists())
        self.assertEqual(config.read_text(), edited)
        self.dpkg(root, "-i", self.deb)
        self.assertEqual(config.read_text(), edited)
        self.assertTrue((root / BIN).exists())
        r = subprocess.run([str(root / BIN), "--check-config", "--config.file", str(config)],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.dpkg(root, "--purge", "connwatch")
        self.assertFalse(config.exists())

    # --- the OCI image ------------------------------------------------------------------------

    def podman_run(self, *args, detach=False):
        if self.podman_problem:
            self.skipTest(self.podman_problem)
        argv = ["podman", "--runtime", "runc", "run", "--rm", "--network", "host", *ulimits()]
        if detach:
            argv.append("-d")
        return subprocess.run([*argv, *args], capture_output=True, text=True, timeout=120)

    def test_image_is_from_scratch_and_runs_as_a_non_root_user(self):
        if self.podman_problem:
            self.skipTest(self.podman_problem)
        inspect = json.loads(subprocess.run(["podman", "image", "inspect", self.image],
                                            capture_output=True, text=True, check=True).stdout)[0]
        self.assertEqual(inspect["Config"]["User"], "65532:65532")
        self.assertEqual(inspect["Config"]["Entrypoint"], ["/usr/bin/connwatch-agent"])
        self.assertEqual(len(inspect["RootFS"]["Layers"]), 1)  # FROM scratch: one COPY layer
        size = inspect["Size"]
        print(f"{self.image}: {size / 1e6:.1f} MB", flush=True)
        self.assertLess(size, 60e6)
        # No shell, no package manager: the binary, its libraries, certificates, passwd.
        r = self.podman_run("--entrypoint", "/bin/sh", self.image, "-c", "true")
        self.assertNotEqual(r.returncode, 0)

    def test_image_serves_metrics(self):
        port = free_port()
        name = f"connwatch-test-{os.getpid()}-{port}"
        r = self.podman_run("--name", name, self.image, "--config.file=/etc/connwatch/agent.toml",
                            f"--web.listen-address=127.0.0.1:{port}", detach=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.addCleanup(subprocess.run, ["podman", "rm", "-f", "-t", "0", name],
                        capture_output=True)
        alive = lambda: subprocess.run(["podman", "container", "exists", name]).returncode == 0
        body, _ = wait_for_metrics(port, alive)
        samples = parse_metrics(body)
        names = {n for n, _ in samples}
        self.assertIn("connwatch_build_info", names)
        self.assertIn("process_resident_memory_bytes", names)
        # The --ulimit given is what the agent sees.
        nofile = int(ulimits()[1].split("=")[1].split(":")[0])
        self.assertEqual(samples[("process_max_fds", frozenset())], nofile)
        # Unprivileged without NET_RAW: capture is down, the rest runs.
        self.assertEqual(samples[("connwatch_capture_up", frozenset())], 0)
        logs = subprocess.run(["podman", "logs", name], capture_output=True, text=True).stderr
        self.assertIn('level=info msg="listening"', logs)

    def test_diagnose_runs_inside_the_image_with_net_raw(self):
        """A refused connection to a loopback port, seen by the probe and by capture alike."""
        r = self.podman_run("--cap-add", "NET_RAW", self.image, "--diagnose", "--duration", "2",
                            "--format", "json", "--target", f"http://127.0.0.1:{free_port()}/")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)  # a warning or worse was found
        report = json.loads(r.stdout)
        ids = {f["id"] for f in report["findings"]}
        self.assertIn("connection-refused", ids)
        self.assertNotIn("capture-unavailable", ids)  # NET_RAW reached the unprivileged user


if __name__ == "__main__":
    if SANITIZED:
        skip("package.sh packages the release build (build/default), not a sanitizer build")
    unittest.main(verbosity=2)
