#!/usr/bin/env python3
"""The agent on a NAT router: each refused connection's reset counts once, not once per interface.

    inner namespace 10.78.0.2 (a "container")
        | veth
    lab client namespace = the router: 10.78.0.1 and 10.77.0.1, MASQUERADE out of the lab veth,
        |                  the agent captures "any" here, tcpdump -i any writes what it saw
        | lab veth
    lab server namespace 10.77.0.2: no listener on the port, so every SYN gets a RST

Each SYN crosses the router twice (on the inner veth, then after MASQUERADE on the lab veth with
another source address and port), and so does each RST. The agent must count N refused
connections as N server resets in the handshake with the server as the peer (the inner address
never becomes a peer), and `agent --replay` of tcpdump's capture of the same traffic must say
the same. Needs root, network namespaces, iptables and tcpdump; exits 77 without them.
"""

import json
import os
import subprocess
import sys
import time
import unittest
from pathlib import Path

import lab
from support import AGENT, AgentProcess, sample, wait_until

REFUSED = 10
PORT = 9719  # no listener in the server namespace
INNER_IP, ROUTER_INNER_IP = "10.78.0.2", "10.78.0.1"


def ip(*args, check=True):
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True, timeout=30)



class AgentBehindMasquerade(unittest.TestCase):
    def test_counts_each_refused_connection_once_and_names_the_server(self):
        with lab.Lab() as L:
            router = L.client_ns
            inner = router[:-2] + "-i"  # the lab's prefix: tests/lab/cleanup.py finds leftovers
            ip("netns", "add", inner)
            try:
                self.run_through_nat(L, router, inner)
            finally:
                ip("netns", "del", inner, check=False)

    def run_through_nat(self, L, router, inner):
        ip("link", "add", "cwnat0", "netns", inner, "type", "veth", "peer", "name", "cwnat1",
           "netns", router)
        ip("-n", inner, "addr", "add", f"{INNER_IP}/24", "dev", "cwnat0")
        ip("-n", inner, "link", "set", "cwnat0", "up")
        ip("-n", inner, "link", "set", "lo", "up")
        ip("-n", inner, "route", "add", "default", "via", ROUTER_INNER_IP)
        ip("-n", router, "addr", "add", f"{ROUTER_INNER_IP}/24", "dev", "cwnat1")
        ip("-n", router, "link", "set", "cwnat1", "up")
        L.run("client", ["sysctl", "-qw", "net.ipv4.ip_forward=1"], check=True)
        L.run("client", ["iptables", "-t", "nat", "-A", "POSTROUTING", "-s", "10.78.0.0/24",
                         "-o", L.client_if, "-j", "MASQUERADE"], check=True)

        agent = AgentProcess(f"""
[capture]
interface = "any"
ports = [{PORT}]

[sockets]
enabled = false
""", netns=router).wait_healthy()
        capture = Path(L.workdir) / "router-any.pcap"
        tcpdump = subprocess.Popen(
            ["ip", "netns", "exec", router, "tcpdump", "-i", "any", "-y", "LINUX_SLL2", "-U",
             "-w", str(capture), f"tcp port {PORT}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            up = wait_until(lambda: sample(agent.metrics(), "connwatch_capture_up") == 1)
            self.assertTrue(up, agent.output())
            time.sleep(0.5)  # tcpdump's capture is open well before this
            gen = subprocess.run(
                ["ip", "netns", "exec", inner, lab.binary("lab-gen"), "refused", "--host",
                 L.server_ip, "--port", str(PORT), "--count", str(REFUSED)],
                capture_output=True, text=True, timeout=60)
            self.assertEqual(gen.returncode, 0, gen.stderr)
            self.assertEqual(json.loads(gen.stdout.splitlines()[0])["errors"],
                             {"ECONNREFUSED": REFUSED})

            def resets():
                return sample(agent.metrics(), "connwatch_tcp_resets_total", sender="server",
                              phase="handshake", port=str(PORT))
            wait_until(lambda: resets() == REFUSED)
            time.sleep(0.6)  # one more ring hand-over: a late second copy would show now
            metrics = agent.metrics()
        finally:
            time.sleep(0.3)
            tcpdump.terminate()
            tcpdump.wait(timeout=10)
            agent.close()

        print("agent:", {f"{name}{dict(labels)}": value for (name, labels), value in metrics.items()
                         if name.startswith("connwatch_tcp_") and value}, flush=True)
        self.assertEqual(sample(metrics, "connwatch_tcp_resets_total", sender="server",
                                phase="handshake", port=str(PORT)), REFUSED)
        total = sum(v for (name, _), v in metrics.items() if name == "connwatch_tcp_resets_total")
        self.assertEqual(total, REFUSED, "each reset counted once, none with another label")
        self.assertEqual(sample(metrics, "connwatch_tcp_peer_resets_total", peer=L.server_ip,
                                sender="server"), REFUSED)
        peers = {dict(labels).get("peer") for (name, labels), value in metrics.items()
                 if name == "connwatch_tcp_peer_resets_total" and value > 0}
        self.assertEqual(peers, {L.server_ip}, "the inner address is never a remote peer")

        # The same traffic as tcpdump saw it, replayed: the same answer (and every segment twice).
        replay = subprocess.run([AGENT, "--replay", str(capture), "--format", "json"],
                                capture_output=True, text=True, timeout=60)
        self.assertEqual(replay.returncode, 0, replay.stderr)
        replayed = json.loads(replay.stdout)
        print("replay:", json.dumps(replayed), flush=True)
        self.assertEqual(replayed["packets"], 4 * REFUSED)
        self.assertEqual(replayed["resets"]["total"], REFUSED)
        self.assertEqual(replayed["resets"]["by_phase"]["handshake"], REFUSED)
        self.assertEqual(replayed["resets"]["by_sender"]["server"], REFUSED)
        self.assertEqual(replayed["closes"]["reset"], REFUSED)


class AgentOnNflog(unittest.TestCase):
    """iptables -j NFLOG of a namespace's segments to port PORT, captured as `nflog:GROUP` by the
    agent and, on a second group fed by the same rules, by tcpdump: each refused connection is
    one reset, live and in replay."""

    def test_counts_refused_connections_logged_through_nflog(self):
        group, tcpdump_group = "37", "38"  # one listener per group
        with lab.Lab() as L:
            for chain, direction in (("OUTPUT", "--dport"), ("INPUT", "--sport")):
                for g in (group, tcpdump_group):
                    L.run("client", ["iptables", "-A", chain, "-p", "tcp", direction, str(PORT),
                                     "-j", "NFLOG", "--nflog-group", g], check=True)
            capture = Path(L.workdir) / "nflog.pcap"
            log_path = Path(L.workdir) / "tcpdump-nflog.log"
            with open(log_path, "w") as log:
                tcpdump = subprocess.Popen(
                    ["ip", "netns", "exec", L.client_ns, "tcpdump", "-i", f"nflog:{tcpdump_group}",
                     "-U", "-w", str(capture)], stdout=subprocess.DEVNULL, stderr=log)
            agent = AgentProcess(f"""
[capture]
interface = "nflog:{group}"
ports = [{PORT}]

[sockets]
enabled = false
""", netns=L.client_ns).wait_healthy()
            try:
                up = wait_until(lambda: sample(agent.metrics(), "connwatch_capture_up") == 1)
                self.assertTrue(up, agent.output())
                wait_until(lambda: "listening on" in log_path.read_text(), timeout=10)
                self.assertEqual(L.refused(REFUSED, PORT)["errors"], {"ECONNREFUSED": REFUSED})

                def resets():
                    return sample(agent.metrics(), "connwatch_tcp_resets_total",
                                  sender="server", phase="handshake", port=str(PORT))
                wait_until(lambda: resets() == REFUSED)
                time.sleep(0.5)
                metrics = agent.metrics()
            finally:
                tcpdump.terminate()
                tcpdump.wait(timeout=10)
                agent.close()
            self.assertEqual(sample(metrics, "connwatch_capture_packets_total"), 2 * REFUSED)
            self.assertEqual(sample(metrics, "connwatch_tcp_resets_total", sender="server",
                                    phase="handshake", port=str(PORT)), REFUSED)
            replay = subprocess.run([AGENT, "--replay", str(capture), "--format", "json"],
                                    capture_output=True, text=True, timeout=60)
            self.assertEqual(replay.returncode, 0, replay.stderr)
            replayed = json.loads(replay.stdout)
            print("tcpdump:", log_path.read_text(), "nflog replay:", json.dumps(replayed),
                  flush=True)
            self.assertEqual(replayed["packets"], 2 * REFUSED)
            self.assertEqual(replayed["resets"]["by_phase"]["handshake"], REFUSED)
            self.assertEqual(replayed["resets"]["by_sender"]["server"], REFUSED)


if __name__ == "__main__":
    lab.skip_unless_available("tcpdump", "iptables")
    if not os.access(AGENT, os.X_OK):
        print(f"SKIP: {AGENT} not built", flush=True)
        sys.exit(77)
    unittest.main(verbosity=2)
