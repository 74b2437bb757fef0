#!/usr/bin/env python3
"""Live capture in the lab: connwatch's capture counts exactly what the lab generated, and what
tcpdump (an independent observer on the same veth) saw.

Two passive-capture-probe processes run in the client namespace at once: one on the veth
(DLT_EN10MB) and one on "any" (DLT_LINUX_SLL2). The lab then makes
    refused     connects to a port with no listener (IPv4 and IPv6): RST answering SYN
    firewalled  connects to a port whose SYNs an iptables REJECT --reject-with tcp-reset answers
    aborted     rst-after-accept: the server resets right after the handshake
    midstream   a firewall resets the first data segment of an established connection
    churned     client-first closes: one client TIME_WAIT each (checked with ss as well)
    injected    rst-after-accept while every RST leaving the server gets TTL 50 (a "middlebox")
Needs root, network namespaces, tcpdump and iptables; exits 77 without them.
"""

import json
import os
import re
import signal
import subprocess
import sys
import time
import unittest
from pathlib import Path

import lab

SOURCE = Path(os.environ.get("CONNWATCH_SOURCE_DIR", Path(__file__).resolve().parents[3]))
BINARY = Path(os.environ.get("CONNWATCH_BINARY_DIR", SOURCE / "build" / "default"))
PROBE = BINARY / "tests" / "probes" / "passive" / "passive-capture-probe"
FILTER = ("(tcp[tcpflags] & (tcp-syn|tcp-fin|tcp-rst) != 0) or "
          "(ip6 and ip6[6] == 6 and (ip6[53] & 0x07) != 0)")

REFUSED_V4, REFUSED_V6, FIREWALLED, ABORTED, MIDSTREAM, CHURNED, INJECTED = 6, 2, 4, 5, 3, 7, 3


class Probe:
    """passive-capture-probe running in the client namespace until stop()."""

    def __init__(self, L, interface):
        self.log = Path(L.workdir) / f"probe-{interface}.log"
        self.out = Path(L.workdir) / f"probe-{interface}.json"
        with open(self.log, "wb") as err, open(self.out, "wb") as out:
            self.proc = L.popen_client([str(PROBE), "--interface", interface, "--seconds", "120"],
                                       stdout=out, stderr=err)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "capture up" not in self.log.read_text():
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        if "capture up" not in self.log.read_text():
            raise lab.LabError(f"capture probe on {interface} did not start: "
                               f"{self.log.read_text()}")

    def stop(self):
        os.killpg(self.proc.pid, signal.SIGINT)
        self.proc.wait(timeout=10)
        return json.loads(self.out.read_text())


def tcpdump_counts(lines):
    """Independent counts from tcpdump's text: packets, SYN-ACKs, connections with a RST."""
    syn_acks = sum(1 for line in lines if "Flags [S.]" in line)
    rst_flows = set()
    for line in lines:
        if "Flags [R" in line:
            m = re.search(r"IP6? (\S+) > (\S+):", line)
            rst_flows.add(tuple(sorted(m.groups())))
    return {"packets": len(lines), "syn_acks": syn_acks, "rst_connections": len(rst_flows)}


class LiveCapture(unittest.TestCase):
    def test_counts_equal_what_the_lab_generated_and_what_tcpdump_saw(self):
        with lab.Lab() as L:
            L.start_server("rst-after-accept", 9001)
            L.start_server("ok", 9002)
            L.start_server("ok", 9004)
            L.reject_with_reset(9003)
            L.reject_with_reset(9004, midstream=True)
            probes = [Probe(L, L.client_if), Probe(L, "any")]
            with L.tcpdump("client", bpf=FILTER) as cap:
                self.assertEqual(L.refused(REFUSED_V4, 9009)["errors"],
                                 {"ECONNREFUSED": REFUSED_V4})
                self.assertEqual(L.refused(REFUSED_V6, 9009, ip=L.server_ip6)["errors"],
                                 {"ECONNREFUSED": REFUSED_V6})
                self.assertEqual(L.refused(FIREWALLED, 9003)["errors"],
                                 {"ECONNREFUSED": FIREWALLED})
                self.assertEqual(L.resets(ABORTED, 9001)["reset_received"], ABORTED)
                self.assertEqual(L.resets(MIDSTREAM, 9004, send="GET / HTTP/1.1")
                                 ["reset_received"], MIDSTREAM)
                L.churn(CHURNED, 9002)
                self.assertEqual(L.time_wait_count("client", 9002), CHURNED)
                L.set_reset_ttl(50)
                self.assertEqual(L.resets(INJECTED, 9001)["reset_received"], INJECTED)
                time.sleep(1.0)  # capture hands over ring blocks every 250 ms
                seen = tcpdump_counts(cap.stop())
            results = [probe.stop() for probe in probes]

        print("tcpdump:", json.dumps(seen))
        for name, got in zip(("veth", "any"), results):
            print(f"probe on {name}:", json.dumps(got))

        handshake = REFUSED_V4 + REFUSED_V6 + FIREWALLED
        established = ABORTED + MIDSTREAM + INJECTED
        connections = ABORTED + MIDSTREAM + CHURNED + INJECTED
        # Churn can end with a stray RST after both FINs (see lab.Lab): a closing-phase reset.
        stray = seen["rst_connections"] - handshake - established
        self.assertGreaterEqual(stray, 0)
        self.assertEqual(seen["syn_acks"], connections)

        for name, got in zip(("veth", "any"), results):
            with self.subTest(capture=name):
                self.assertTrue(got["capture"]["up_at_stop"], got)
                self.assertEqual(got["packets"], seen["packets"], got)
                self.assertEqual(got["connections"], connections)
                self.assertEqual(got["resets"]["total"], seen["rst_connections"])
                self.assertEqual(got["resets"]["by_phase"],
                                 {"handshake": handshake, "established": established,
                                  "closing": stray})
                senders = got["resets"]["by_sender"]
                self.assertEqual(senders["unknown"], 0)
                self.assertGreaterEqual(senders["server"], handshake + established)
                self.assertEqual(senders["client"] + senders["server"], seen["rst_connections"])
                self.assertEqual(got["time_wait_entries"], {"client": CHURNED, "server": 0})
                self.assertEqual(got["closes"], {"fin": CHURNED,
                                                 "reset": handshake + established})
                self.assertEqual(got["capture"]["suspected_middlebox"], INJECTED)
                self.assertEqual(got["capture"]["duplicates"], 0)
                self.assertEqual(got["capture"]["dropped"]["kernel"], 0)
                self.assertEqual(got["malformed"] + got["truncated"], 0)


if __name__ == "__main__":
    lab.skip_unless_available("tcpdump", "iptables")
    if not os.access(PROBE, os.X_OK):
        print(f"SKIP: {PROBE} not built", flush=True)
        sys.exit(77)
    unittest.main(verbosity=2)
