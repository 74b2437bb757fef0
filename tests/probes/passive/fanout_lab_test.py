#!/usr/bin/env python3
"""capture.threads = 2 (two pcap handles in one PACKET_FANOUT group) counts exactly what one
thread counts, and exactly what the lab made.

The agent captures the server end of a lab veth pair. The same traffic runs twice: first with
capture.threads = 1, then after a reload to capture.threads = 2 (a changed thread count reopens
the capture; the counters carry on). The traffic is 200 connection attempts over 8 server ports:
    closed      client-first FIN closes (one client TIME_WAIT each)
    aborted     the client resets its connection (SO_LINGER 0)
    reset       the server resets right after the handshake (rst-after-accept)
    refused     connects to a port with no listener (RST answering the SYN: no connection)
Each run's connwatch_tcp_* counts must equal the made numbers and the other run's (every series),
and its resets every RST the two namespaces' kernels sent (Tcp OutRsts): now and then a server
answers a late segment of a connection it has closed with a RST, a reset in the closing phase
that the other run may not have, so those and the packet count are compared without them. With
two threads the namespace lists two packet sockets and each thread logs the packets it counted,
both above 0. Needs root and network namespaces; exits 77 without them.
"""

import os
import re
import subprocess
import sys
import time
import unittest

import lab
from support import AGENT, AgentProcess, sample, wait_until

CLOSED_PORTS = [9101, 9102, 9103, 9104]  # lab-server "ok"
RESET_PORTS = [9111, 9112]  # lab-server "rst-after-accept"
REFUSED_PORT = 9121  # no listener
CLOSED, ABORTED, RESET, REFUSED = 25, 15, 25, 20  # per port (ABORTED on two of the ok ports)
MADE_CONNECTIONS = CLOSED * 4 + ABORTED * 2 + RESET * 2
MADE_ATTEMPTS = MADE_CONNECTIONS + REFUSED
ALL_PORTS = CLOSED_PORTS + RESET_PORTS + [REFUSED_PORT]


def config(L, threads):
    return f"""
[capture]
interface = "{L.server_if}"
ports = [{", ".join(str(p) for p in ALL_PORTS)}]
threads = {threads}

[sockets]
enabled = false
"""



def tcp_counts(metrics):
    """Every connwatch_tcp_* series and the packet count."""
    return {(name, labels): value for (name, labels), value in metrics.items()
            if name.startswith("connwatch_tcp_") or name == "connwatch_capture_packets_total"}


def stray(name, labels):
    """Series a late RST of a closed connection (a kernel's, see above) adds to."""
    return (name in ("connwatch_capture_packets_total", "connwatch_tcp_peer_resets_total") or
            (name == "connwatch_tcp_resets_total" and ("phase", "closing") in labels))


def total(metrics, name, **labels):
    want = set(labels.items())
    return sum(v for (n, l), v in metrics.items() if n == name and want <= set(l))


def out_rsts(L):
    """RSTs the kernels of both lab namespaces sent so far (/proc/net/snmp Tcp OutRsts)."""
    sent = 0
    for ns in ("client", "server"):
        tcp = [line.split() for line in L.run(ns, ["cat", "/proc/net/snmp"], capture_output=True,
                                               text=True).stdout.splitlines()
               if line.startswith("Tcp:")]
        sent += int(tcp[1][tcp[0].index("OutRsts")])
    return sent


def packet_sockets(L):
    """Packet sockets open in the server namespace (/proc/net/packet is per namespace)."""
    lines = L.server(["cat", "/proc/net/packet"], capture_output=True, text=True).stdout
    return len(lines.strip().splitlines()) - 1


class FanoutCapture(unittest.TestCase):
    def test_two_threads_count_exactly_what_one_thread_counts(self):
        with lab.Lab() as L:
            for port in CLOSED_PORTS:
                L.start_server("ok", port)
            for port in RESET_PORTS:
                L.start_server("rst-after-accept", port)
            agent = AgentProcess(config(L, 1), netns=L.server_ns).wait_healthy()
            try:
                self.run_both(L, agent)
            finally:
                agent.close()

    def traffic(self, L):
        for port in CLOSED_PORTS:
            self.assertEqual(L.churn(CLOSED, port)["connected"], CLOSED)
        for port in CLOSED_PORTS[:2]:
            self.assertEqual(L.churn(ABORTED, port, rst=True)["connected"], ABORTED)
        for port in RESET_PORTS:
            self.assertEqual(L.resets(RESET, port)["reset_received"], RESET)
        self.assertEqual(L.refused(REFUSED, REFUSED_PORT)["errors"], {"ECONNREFUSED": REFUSED})

    def settle(self, agent, connections, resets):
        """Metrics once the counts are in, and one more ring hand-over (250 ms) after."""
        wait_until(lambda: total(agent.metrics(), "connwatch_tcp_connections_total")
                   >= connections and total(agent.metrics(), "connwatch_tcp_resets_total")
                   >= resets, timeout=10.0)
        time.sleep(0.6)
        return agent.metrics()

    def check_made(self, counts, runs, client_ip, rsts_sent):
        """The made numbers after `runs` runs; rsts_sent: the kernels' RSTs in those runs."""
        self.assertEqual(total(counts, "connwatch_tcp_connections_total"),
                         runs * MADE_CONNECTIONS)
        resets = runs * (ABORTED * 2 + RESET * 2 + REFUSED)
        self.assertGreaterEqual(rsts_sent, resets)
        self.assertEqual(total(counts, "connwatch_tcp_resets_total"), rsts_sent)
        self.assertEqual(total(counts, "connwatch_tcp_resets_total", phase="closing"),
                         rsts_sent - resets)
        self.assertEqual(total(counts, "connwatch_tcp_resets_total", sender="client"),
                         runs * ABORTED * 2)
        self.assertEqual(total(counts, "connwatch_tcp_resets_total", sender="server",
                               phase="handshake"), runs * REFUSED)
        self.assertEqual(total(counts, "connwatch_tcp_closes_total", how="fin"),
                         runs * CLOSED * 4)
        self.assertEqual(total(counts, "connwatch_tcp_closes_total", how="reset"), resets)
        self.assertEqual(total(counts, "connwatch_tcp_time_wait_entries_total", side="client"),
                         runs * CLOSED * 4)
        self.assertEqual(total(counts, "connwatch_tcp_time_wait_entries_total", side="server"), 0)
        for port in CLOSED_PORTS:
            self.assertEqual(sample(counts, "connwatch_tcp_closes_total", how="fin",
                                    port=str(port)), runs * CLOSED)
        self.assertEqual(sample(counts, "connwatch_tcp_peer_resets_total", peer=client_ip,
                                sender="client"), runs * ABORTED * 2)
        self.assertEqual(total(counts, "connwatch_tcp_peer_resets_total"), rsts_sent)

    def run_both(self, L, agent):
        self.assertTrue(wait_until(lambda: sample(agent.metrics(), "connwatch_capture_up") == 1,
                                   timeout=10.0),
                        agent.output())
        self.assertEqual(packet_sockets(L), 1)
        started = time.monotonic()
        rsts0 = out_rsts(L)
        self.traffic(L)
        one = tcp_counts(self.settle(agent, MADE_CONNECTIONS, ABORTED * 2 + RESET * 2 + REFUSED))
        rsts1 = out_rsts(L)
        stray1 = rsts1 - rsts0 - (ABORTED * 2 + RESET * 2 + REFUSED)
        print(f"threads=1: {MADE_ATTEMPTS} attempts in {time.monotonic() - started:.1f}s, "
              f"{one[('connwatch_capture_packets_total', frozenset())]:.0f} packets, "
              f"{stray1} late RSTs", flush=True)
        self.check_made(one, 1, L.client_ip, rsts1 - rsts0)

        # A changed thread count reopens the capture: two sockets, the counters carry on.
        agent.write_config(config(L, 2))
        status, body, _ = agent.post("/-/reload")
        self.assertEqual(status, 200, body + agent.output())
        self.assertTrue(wait_until(lambda: packet_sockets(L) == 2, timeout=10.0), agent.output())
        self.assertEqual(sample(agent.metrics(), "connwatch_capture_up"), 1)
        self.traffic(L)
        both = tcp_counts(self.settle(agent, 2 * MADE_CONNECTIONS,
                                      2 * (ABORTED * 2 + RESET * 2 + REFUSED)))
        rsts2 = out_rsts(L)
        stray2 = rsts2 - rsts1 - (ABORTED * 2 + RESET * 2 + REFUSED)
        print(f"threads=2: {stray2} late RSTs", flush=True)
        self.check_made(both, 2, L.client_ip, rsts2 - rsts0)
        two = {key: value - one.get(key, 0) for key, value in both.items()}
        differing = {f"{name}{dict(labels)}": (one.get((name, labels), 0), value)
                     for (name, labels), value in two.items()
                     if not stray(name, labels) and one.get((name, labels), 0) != value}
        self.assertEqual(differing, {}, "series (threads=1, threads=2) that differ")
        packets = ("connwatch_capture_packets_total", frozenset())
        self.assertEqual(two[packets] - stray2, one[packets] - stray1)
        self.assertEqual(sample(agent.metrics(), "connwatch_capture_dropped_packets_total",
                                where="kernel"), 0)

        code, _ = agent.stop()
        self.assertEqual(code, 0, agent.output())
        log = agent.output()
        counted = {int(thread): int(packets) for thread, packets in re.findall(
            r"thread (\d) of 2\): stopped after (\d+) packets", log)}
        print("per thread:", counted, flush=True)
        self.assertEqual(set(counted), {1, 2}, log)
        self.assertTrue(all(packets > 0 for packets in counted.values()), counted)
        self.assertEqual(sum(counted.values()),
                         two[("connwatch_capture_packets_total", frozenset())])


if __name__ == "__main__":
    lab.skip_unless_available()
    if not os.access(AGENT, os.X_OK):
        print(f"SKIP: {AGENT} not built", flush=True)
        sys.exit(77)
    unittest.main(verbosity=2)
