#!/usr/bin/env python3
"""The active probe outcomes the first lab test cannot make in one namespace: EMFILE under a
lowered RLIMIT_NOFILE is fd_exhausted; a narrowed ephemeral port range is addr_not_available;
a DNS name whose address changes is counted and followed once max_lifetime retires the old
connection; retry delays fall inside each jitter's bounds. Needs root and the lab for all but
the first; exits 77 without them."""
import json
import os
import re
import subprocess
import time
import unittest
from pathlib import Path

import lab
from support import AGENT, SANITIZED, AgentProcess, sample

OK, FLAP_FULL, FLAP_EQUAL, FLAP_NONE = 8680, 8681, 8682, 8683
NEW_IP = "10.77.0.3"


def diagnose_json(argv, prefix=()):
    proc = subprocess.run([*prefix, AGENT, "--diagnose", "--format", "json", *argv],
                          capture_output=True, text=True, timeout=60)
    return json.loads(proc.stdout)


class FdExhausted(unittest.TestCase):
    def test_lowered_rlimit_nofile_makes_probes_fd_exhausted(self):
        if SANITIZED:
            # UBSan checks a vptr by writing the memory to a pipe(); with no descriptor left the
            # pipe fails and it reports every virtual call as invalid.
            self.skipTest("UBSan needs descriptors of its own; the default preset runs this")
        config = Path(os.environ.get("TMPDIR", "/tmp")) / f"cw-fd-{os.getpid()}.toml"
        config.write_text("[capture]\nenabled = false\n[sockets]\nenabled = false\n"
                          "[retry]\nmax_attempts = 1\n")
        try:
            # Six descriptors: stdio and the event loop's own, none left for a socket.
            report = diagnose_json(["--duration", "2", "--config", str(config), "--target",
                                    "http://127.0.0.1:9/"], prefix=["prlimit", "--nofile=6:6"])
        finally:
            config.unlink()
        attempts = report["targets"][0]["attempts"]
        self.assertGreater(attempts["fd_exhausted"], 0, attempts)
        self.assertEqual(sum(attempts.values()), attempts["fd_exhausted"], attempts)
        self.assertEqual(report["targets"][0]["last"]["error"], "Too many open files")
        self.assertIn("fd-exhaustion", [f["id"] for f in report["findings"]])


class InTheLab(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        lab.skip_unless_available()
        cls.lab = lab.Lab().__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.lab.close()

    def test_retry_delays_fall_inside_the_jitter_bounds(self):
        L = self.lab
        for port in (FLAP_FULL, FLAP_EQUAL, FLAP_NONE):
            L.start_server("fail-then-ok", port, failures=2)
        targets = ""
        for name, port, jitter in (("full", FLAP_FULL, "full"), ("equal", FLAP_EQUAL, "equal"),
                                   ("none", FLAP_NONE, "none")):
            targets += (f'[[target]]\nname = "{name}"\nurl = "http://{L.server_ip}:{port}/"\n'
                        f'interval = "2s"\njitter = "{jitter}"\n\n')
        config = ('[capture]\nenabled = false\n[sockets]\nenabled = false\n'
                  '[retry]\nmax_attempts = 3\nbase_delay = "100ms"\nmax_delay = "400ms"\n'
                  'budget_ratio = 1.0\n\n' + targets)
        with AgentProcess(config, args=["--log-level", "debug"], netns=L.client_ns) as agent:
            agent.wait_healthy()
            pattern = re.compile(r"probe (\w+): after_retry \(success\), 3 attempts, "
                                 r"retry delays \[([\d.]+) ([\d.]+)\] s, ([\d.]+) s")
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and len(pattern.findall(agent.output())) < 3:
                time.sleep(0.1)
            log = agent.output()
            found = {m[0]: tuple(map(float, m[1:])) for m in pattern.findall(log)}
        self.assertEqual(set(found), {"full", "equal", "none"}, log)
        # Retry n (0-based) waits within: full [0, c], equal [c/2, c], none exactly c, where
        # c = min(max_delay, base_delay * 2^n): 0.1 s, then 0.2 s.
        bounds = {"full": ((0, 0.1), (0, 0.2)), "equal": ((0.05, 0.1), (0.1, 0.2)),
                  "none": ((0.1, 0.1), (0.2, 0.2))}
        for name, (d1, d2, duration) in found.items():
            with self.subTest(jitter=name):
                (lo1, hi1), (lo2, hi2) = bounds[name]
                self.assertGreaterEqual(d1, lo1 - 0.001)
                self.assertLessEqual(d1, hi1 + 0.001)
                self.assertGreaterEqual(d2, lo2 - 0.001)
                self.assertLessEqual(d2, hi2 + 0.001)
                # The probe really waited them out.
                self.assertGreaterEqual(duration, d1 + d2 - 0.002)

    def test_a_dns_change_is_counted_and_followed_after_max_lifetime(self):
        L = self.lab
        L.start_server("ok", OK)  # listens on every address of the server namespace
        lab._ip("-n", L.server_ns, "addr", "add", f"{NEW_IP}/{L.prefix_len}", "dev", L.server_if)
        etc = Path("/etc/netns") / L.client_ns
        etc.mkdir(parents=True, exist_ok=True)
        hosts = etc / "hosts"
        hosts.write_text(f"127.0.0.1 localhost\n{L.server_ip} lab-target\n")
        config = f"""
[capture]
enabled = false
[sockets]
enabled = false
[pool]
max_lifetime = "3s"
[[target]]
name = "named"
url = "http://lab-target:{OK}/"
interval = "500ms"
"""
        try:
            with AgentProcess(config, netns=L.client_ns) as agent:
                agent.wait_healthy()
                time.sleep(1.5)
                m = agent.metrics()
                self.assertEqual(sample(m, "connwatch_dns_address_changes_total",
                                        target="named"), 0)
                # Rewritten in place: `ip netns exec` bind-mounted this file over /etc/hosts.
                with open(hosts, "r+") as f:
                    f.truncate(0)
                    f.write(f"127.0.0.1 localhost\n{NEW_IP} lab-target\n")
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:
                    m = agent.metrics()
                    if sample(m, "connwatch_dns_address_changes_total", target="named"):
                        break
                    time.sleep(0.3)
                time.sleep(1)
                ss = L.client(["ss", "-Htn", "state", "established"], capture_output=True,
                              text=True).stdout
                m = agent.metrics()
        finally:
            for f in etc.iterdir():
                f.unlink()
            etc.rmdir()
        self.assertEqual(sample(m, "connwatch_dns_address_changes_total", target="named"), 1)
        self.assertGreaterEqual(sample(m, "connwatch_dns_resolutions_total", target="named"), 2)
        self.assertGreaterEqual(sample(m, "connwatch_pool_connections_closed_total",
                                       target="named", reason="max_lifetime"), 1)
        self.assertEqual(sample(m, "connwatch_probe_success", target="named"), 1)
        self.assertIn(f"{NEW_IP}:{OK}", ss)
        self.assertNotIn(f"{L.server_ip}:{OK}", ss)


class PortRange(unittest.TestCase):
    def test_a_narrowed_port_range_is_addr_not_available(self):
        lab.skip_unless_available()
        with lab.Lab() as L:
            L.start_server("ok", OK)
            L.set_port_range(40000, 40009)
            self.assertEqual(L.churn(10, OK)["connected"], 10)  # every local port in TIME_WAIT
            config = f"""
[capture]
enabled = false
[sockets]
enabled = false
[retry]
max_attempts = 1
[[target]]
name = "ok"
url = "http://{L.server_ip}:{OK}/"
interval = "500ms"
"""
            with AgentProcess(config, netns=L.client_ns) as agent:
                agent.wait_healthy()
                time.sleep(2)
                m = agent.metrics()
            self.assertGreaterEqual(sample(m, "connwatch_probe_attempts_total", target="ok",
                                           outcome="addr_not_available"), 3)
            self.assertEqual(sample(m, "connwatch_probe_attempts_total", target="ok",
                                    outcome="success"), 0)
            self.assertEqual(L.time_wait_count(port=OK), 10)


if __name__ == "__main__":
    unittest.main(verbosity=2)
