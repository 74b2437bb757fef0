"""The kernel collectors against the integration lab: numbers checked against ss and /proc.

kernel-collect-once runs inside the lab's client namespace (`ip netns exec`), so it reads that
namespace's socket tables, sysctls and counters, as the agent would there.
"""

import json
import os
import re
import subprocess
import unittest
from pathlib import Path

import lab

COUNTERS = {
    "snmp": ("Tcp", ["OutRsts", "EstabResets", "AttemptFails", "OutSegs", "RetransSegs"]),
    "netstat": ("TcpExt", ["TCPAbortOnData", "TCPAbortOnClose", "TCPAbortOnTimeout",
                           "TCPAbortOnLinger", "TCPAbortOnMemory", "ListenOverflows",
                           "ListenDrops", "TCPTimeWaitOverflow", "TWRecycled", "TCPSynRetrans",
                           "TCPTimeouts", "TCPLostRetransmit"]),
}


def collect_once_binary() -> str:
    build = Path(os.environ.get("CONNWATCH_BINARY_DIR",
                                Path(__file__).resolve().parents[3] / "build" / "default"))
    path = build / "tests" / "probes" / "kernel" / "kernel-collect-once"
    if not os.access(path, os.X_OK):
        raise lab.LabError(f"{path} not found: build it first")
    return str(path)


class KernelCollectorInTheLab(unittest.TestCase):
    def setUp(self):
        self.L = lab.Lab().__enter__()
        self.addCleanup(self.L.close)
        self.server = self.L.start_server("ok", 9001)
        self.destination = f"{self.L.server_ip}:9001"

    def collect(self, *args: str, fmt: str = "json"):
        proc = self.L.client([collect_once_binary(), "--format", fmt, *args],
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        return json.loads(proc.stdout) if fmt == "json" else proc.stdout

    def ss_time_wait(self, *filters: str) -> int:
        proc = self.L.client(["ss", "-Htan", "state", "time-wait", *filters],
                             capture_output=True, text=True, timeout=10)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        return len([line for line in proc.stdout.splitlines() if line.strip()])

    def proc_counters(self) -> dict:
        """The eleven counters as the test reads them from the client namespace's /proc."""
        values = {}
        for name, (section, fields) in COUNTERS.items():
            text = self.L.client(["cat", f"/proc/net/{name}"], capture_output=True, text=True,
                                 timeout=10).stdout.splitlines()
            for header, row in zip(text[::2], text[1::2]):
                if header.startswith(section + ":"):
                    table = dict(zip(header.split()[1:], row.split()[1:]))
                    values.update({f: int(table[f]) for f in fields})
        return values

    def test_time_wait_agrees_with_ss_after_churn(self):
        result = self.L.churn(2000, 9001)
        self.assertEqual(result["fin_closed"], 2000, result)
        before = self.ss_time_wait()
        snapshot = self.collect("--max-destinations", "20")
        after = self.ss_time_wait()
        ours = snapshot["sockets"]["by_state"]["time_wait"]
        # Nothing expires within a test this short (TIME_WAIT lasts 60 s), but allow the 1 %.
        self.assertGreaterEqual(ours, min(before, after) * 0.99)
        self.assertLessEqual(ours, max(before, after) * 1.01)
        self.assertGreaterEqual(ours, 2000)

        per_destination = {d["destination"]: d["sockets"]
                           for d in snapshot["sockets"]["time_wait"]["destinations"]}
        ss_destination = self.ss_time_wait("dst", self.destination)
        self.assertEqual(per_destination.get(self.destination), ss_destination)
        self.assertEqual(ss_destination, 2000)

    def test_narrow_port_range_shows_exhaustion_and_connect_fails(self):
        L = self.L
        L.set_port_range(40000, 40199)
        result = L.churn(400, 9001, timeout="1s")
        self.assertEqual(result["fin_closed"], 200, result)
        self.assertEqual(result["errors"], {"EADDRNOTAVAIL": 200}, result)

        snapshot = self.collect()
        self.assertEqual(snapshot["port_range"]["size"], 200)
        ports = {d["destination"]: d for d in snapshot["sockets"]["ports_in_use"]["destinations"]}
        self.assertIn(self.destination, ports)
        self.assertEqual(ports[self.destination]["in_use"], 200)
        self.assertEqual(ports[self.destination]["source"], L.client_ip)
        self.assertGreaterEqual(ports[self.destination]["utilization"], 0.9)

        # A real connect() to the same destination fails the way the numbers say it will.
        exhaust = L.exhaust(9001)
        self.assertEqual(exhaust["connected"], 0, exhaust)
        self.assertEqual(exhaust["first_error"], "EADDRNOTAVAIL")

        metrics = self.collect(fmt="prometheus")
        netns = L.client_ns  # the namespace's /run/netns name (`ip netns add`)
        self.assertIn(f'connwatch_ephemeral_port_range_size{{netns="{netns}"}} 200\n', metrics)
        self.assertRegex(metrics, r'connwatch_ephemeral_port_utilization_ratio\{destination="'
                         + re.escape(self.destination) + r'",netns="' + re.escape(netns)
                         + r'"\} (1|0\.9\d*)\n')

    def test_kernel_counters_equal_the_kernels_own_files(self):
        L = self.L
        # Make the counters move: refused connects (AttemptFails; the server namespace's stack
        # sends the RSTs) and client aborts (OutRsts, EstabResets in the client namespace).
        self.assertEqual(L.refused(5, 9999)["refused"], 5)
        self.assertEqual(L.resets(5, 9001, sent=True)["reset_sent"], 5)

        before = self.proc_counters()
        snapshot = self.collect()
        after = self.proc_counters()
        self.assertEqual(before, after, "counters moved during the collection; rerun")
        self.assertEqual(snapshot["tcp_events"], before)
        self.assertGreaterEqual(before["AttemptFails"], 5)
        self.assertGreaterEqual(before["OutRsts"], 5)
        self.assertGreaterEqual(before["EstabResets"], 5)

        metrics = self.collect(fmt="prometheus")
        for name, value in before.items():
            self.assertIn(f'connwatch_kernel_tcp_events_total{{counter="{name}",'
                          f'netns="{L.client_ns}"}} {value}\n', metrics)

    def test_socket_owners_name_the_process_holding_the_connections(self):
        L = self.L
        L.set_port_range(40000, 40009)
        holder = L.popen_client([lab.binary("lab-gen"), "exhaust", "--host", L.server_ip,
                                 "--port", "9001", "--hold", "20s"],
                                stdout=subprocess.PIPE, text=True)
        self.assertIn('"first_error":"EADDRNOTAVAIL"', holder.stdout.readline())
        owners = self.collect("--owners", self.destination)
        self.assertEqual(owners["live_sockets"], 10)
        self.assertEqual(owners["unattributed_sockets"], 0)
        self.assertEqual([(o["comm"], o["sockets"]) for o in owners["owners"]], [("lab-gen", 10)])


if __name__ == "__main__":
    lab.skip_unless_available("ss")
    unittest.main(verbosity=2)
