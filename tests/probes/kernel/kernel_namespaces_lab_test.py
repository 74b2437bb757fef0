"""Every network namespace of the host (issue 16), against `ss` run inside each.

Three namespaces: the agent's (kernel-collect-once --all-namespaces, run with `ip netns exec` in
the lab's server namespace), and two others each churning to a server on their own loopback, one
of them with a 200-port range and tcp_tw_reuse off so its connects fail with EADDRNOTAVAIL. A
second test drops CAP_SYS_ADMIN (setpriv --bounding-set) and expects the agent's own namespace still read and the
others counted as unreadable.
"""

import json
import re
import subprocess
import unittest
from pathlib import Path

import lab
from kernel_lab_test import collect_once_binary

# Ports in namespaces this test creates: nobody else listens there.
PORT_A, PORT_B, PORT_SELF = 9101, 9102, 9103
CHURN_A = 600
RANGE_B = (40000, 40199)

SERVER_FIRST_CLOSES = """
import socket, sys
n = int(sys.argv[1])
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("127.0.0.1", int(sys.argv[2]))); l.listen(64)
for _ in range(n):
    c = socket.create_connection(l.getsockname()); s, _ = l.accept()
    s.close()                      # the server closes first: its side ends in TIME_WAIT
    assert c.recv(1) == b""
    c.close()
"""


class EveryNamespace(unittest.TestCase):
    def setUp(self):
        self.L = lab.Lab().__enter__()
        self.addCleanup(self.L.close)
        # A third namespace, named like the lab's so cleanup.py finds it if this run dies.
        self.third = f"{self.L.name}-x"
        subprocess.run(["ip", "netns", "add", self.third], check=True)
        self.addCleanup(subprocess.run, ["ip", "netns", "del", self.third], check=False)
        self.L.run(self.third, ["ip", "link", "set", "lo", "up"], check=True)
        self.agent_ns = self.L.server_ns
        self.ns_a, self.ns_b = self.L.client_ns, self.third

    def server_in(self, ns: str, port: int) -> None:
        log = Path(self.L.workdir) / f"server-{port}.log"
        with open(log, "wb") as out:
            proc = self.L._popen(ns, [lab.binary("lab-server"), "--mode", "ok", "--port",
                                      str(port), "--bind", "127.0.0.1"],
                                 stdout=out, stderr=subprocess.STDOUT)
        lab._wait_for_text(log, "listening on", proc, lab.START_TIMEOUT)

    def churn_in(self, ns: str, port: int, n: int) -> dict:
        proc = self.L.run(ns, [lab.binary("lab-gen"), "churn", "--host", "127.0.0.1", "--port",
                               str(port), "--count", str(n), "--timeout", "1s"],
                          capture_output=True, text=True)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        return json.loads(proc.stdout.splitlines()[0])

    def ss(self, ns: str, *args: str) -> list[str]:
        proc = self.L.run(ns, ["ss", "-Htan", *args], capture_output=True, text=True, timeout=10)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        return [line for line in proc.stdout.splitlines() if line.strip()]

    def ss_ports_in_use(self, ns: str, port: int, low: int, high: int) -> int:
        """Non-listening sockets to 127.0.0.1:port whose local port is in [low, high]."""
        n = 0
        for line in self.ss(ns, "state", "all", "dst", f"127.0.0.1:{port}"):
            fields = line.split()
            if fields[0] == "LISTEN":
                continue
            local_port = int(fields[3].rsplit(":", 1)[1])
            n += low <= local_port <= high
        return n

    def collect(self, *args: str, fmt: str = "json", drop: str = ""):
        argv = [collect_once_binary(), "--all-namespaces", "--format", fmt, *args]
        if drop:  # root keeps only what the bounding set allows across exec
            argv = ["setpriv", f"--bounding-set=-{drop}", "--", *argv]
        proc = self.L.run(self.agent_ns, argv, capture_output=True, text=True, timeout=60)
        self.assertIn(proc.returncode, (0, 1), proc.stdout + proc.stderr)
        return json.loads(proc.stdout) if fmt == "json" else proc.stdout

    def test_each_namespace_equals_ss_inside_it(self):
        L = self.L
        self.server_in(self.ns_a, PORT_A)
        self.assertEqual(self.churn_in(self.ns_a, PORT_A, CHURN_A)["fin_closed"], CHURN_A)

        L.run(self.ns_b, ["sysctl", "-q", "-w",
                          f"net.ipv4.ip_local_port_range={RANGE_B[0]} {RANGE_B[1]}",
                          "net.ipv4.tcp_tw_reuse=0"], check=True)
        self.server_in(self.ns_b, PORT_B)
        result = self.churn_in(self.ns_b, PORT_B, 400)
        self.assertIn("EADDRNOTAVAIL", result["errors"], result)  # the range ran out

        L.run(self.agent_ns, ["python3", "-c", SERVER_FIRST_CLOSES, "20", str(PORT_SELF)],
              check=True, timeout=30)

        time_wait_before = {ns: len(self.ss(ns, "state", "time-wait"))
                            for ns in (self.ns_a, self.ns_b, self.agent_ns)}
        snapshot = self.collect()
        metrics = self.collect(fmt="prometheus")
        time_wait_after = {ns: len(self.ss(ns, "state", "time-wait"))
                           for ns in (self.ns_a, self.ns_b, self.agent_ns)}
        by_name = {n["name"]: n for n in snapshot["namespaces"]}
        for ns in (self.ns_a, self.ns_b, self.agent_ns):
            self.assertIn(ns, by_name, sorted(by_name))

        own = by_name[self.agent_ns]
        self.assertTrue(own["self"])
        self.assertEqual(snapshot["namespaces"][0]["name"], self.agent_ns)

        for ns, port, low, high in ((self.ns_a, PORT_A, 32768, 60999),
                                    (self.ns_b, PORT_B, *RANGE_B)):
            entry = by_name[ns]
            tw = entry["sockets"]["by_state"]["time_wait"]
            self.assertGreaterEqual(tw, min(time_wait_before[ns], time_wait_after[ns]) * 0.98)
            self.assertLessEqual(tw, max(time_wait_before[ns], time_wait_after[ns]) * 1.02)
            self.assertEqual(entry["port_range"]["low"], low, ns)
            self.assertEqual(entry["port_range"]["high"], high, ns)
            ports = {d["destination"]: d
                     for d in entry["sockets"]["ports_in_use"]["destinations"]}
            usage = ports[f"127.0.0.1:{port}"]
            expected = self.ss_ports_in_use(ns, port, low, high)
            self.assertAlmostEqual(usage["in_use"], expected, delta=max(1, expected * 0.02))
            self.assertAlmostEqual(usage["utilization"], expected / (high - low + 1),
                                   delta=0.02 * expected / (high - low + 1) + 1e-9)
        self.assertGreaterEqual(by_name[self.ns_a]["sockets"]["by_state"]["time_wait"], CHURN_A)
        narrowed = {d["destination"]: d for d in
                    by_name[self.ns_b]["sockets"]["ports_in_use"]["destinations"]}
        self.assertGreaterEqual(narrowed[f"127.0.0.1:{PORT_B}"]["utilization"], 0.9)

        # Issue 16.5: per namespace, the destinations sum to the state gauge, the server side's
        # TIME_WAIT (the agent's namespace closed first as the server) included.
        for ns in (self.ns_a, self.ns_b, self.agent_ns):
            labels = f'netns="{ns}"'
            state = re.search(r'connwatch_sockets\{' + re.escape(labels)
                              + r',state="time_wait"\} (\d+)', metrics)
            self.assertIsNotNone(state, ns)
            destinations = sum(int(v) for v in re.findall(
                r'connwatch_time_wait_sockets\{destination="[^"]+",' + re.escape(labels)
                + r'\} (\d+)', metrics))
            self.assertEqual(destinations, int(state.group(1)), ns)
        self.assertRegex(metrics, r'connwatch_time_wait_sockets\{destination="127\.0\.0\.1:'
                         + str(PORT_SELF) + r'",netns="' + re.escape(self.agent_ns) + r'"\} 20\n')
        self.assertIn(f'connwatch_ephemeral_port_range_size{{netns="{self.ns_b}"}} 200\n', metrics)
        self.assertRegex(metrics, r'connwatch_network_namespaces\{readable="true"\} \d+')

    def test_without_cap_sys_admin_the_own_namespace_is_read_and_the_others_counted(self):
        self.server_in(self.ns_a, PORT_A)
        self.churn_in(self.ns_a, PORT_A, 10)
        snapshot = self.collect(drop="sys_admin")
        names = [n["name"] for n in snapshot["namespaces"]]
        self.assertEqual(names, [self.agent_ns])
        self.assertTrue(snapshot["namespaces"][0]["self"])
        self.assertIsNotNone(snapshot["namespaces"][0]["sockets"])
        self.assertGreaterEqual(snapshot["unreadable_namespaces"], 2)  # at least the lab's two
        metrics = self.collect(fmt="prometheus", drop="sys_admin")
        unreadable = re.search(r'connwatch_network_namespaces\{readable="false"\} (\d+)', metrics)
        self.assertGreaterEqual(int(unreadable.group(1)), 2)
        self.assertIn('connwatch_network_namespaces{readable="true"} 1\n', metrics)


if __name__ == "__main__":
    lab.skip_unless_available("ip", "ss", "setpriv", "python3")
    unittest.main(verbosity=2)
