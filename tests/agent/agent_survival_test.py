#!/usr/bin/env python3
"""Survival under load and faults, on the real agent in the lab, each bounded in time:
- wrk hammers /metrics for 30 s while the lab churns connections and a broken config is
  reloaded mid-way: no errors, the old config keeps serving, RSS stays flat;
- 100,000 distinct peer addresses (RSTs injected on the wire) and 200 TIME_WAIT destinations:
  series stay bounded by max_peers and max_destinations, yet every reset is counted;
- the capture interface deleted and re-created: connwatch_capture_up goes 0, then back to 1 by
  itself.
Needs root, the lab and wrk; exits 77 without them."""
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import unittest

import lab
from support import SANITIZED, AgentProcess, sample

OK, ABORT = 8580, 8581
MANY_PORTS = range(9000, 9200)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def series(metrics, name):
    return [labels for (n, labels) in metrics if n == name]


def wait_for(predicate, timeout, interval=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


# Sends argv[4] RST segments from distinct source addresses 10.200.0.0/16 + ... to the client,
# as raw Ethernet frames on the server's veth: what 100k different peers resetting looks like.
INJECTOR = r"""
import socket, struct, sys
iface, dst_mac, dst_ip, count = sys.argv[1], bytes.fromhex(sys.argv[2].replace(":", "")), \
    socket.inet_aton(sys.argv[3]), int(sys.argv[4])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((iface, 0))
src_mac = s.getsockname()[4]
def checksum(b):
    total = sum(struct.unpack("!10H", b))
    total = (total & 0xffff) + (total >> 16)
    return ~((total & 0xffff) + (total >> 16)) & 0xffff
eth = dst_mac + src_mac + b"\x08\x00"
for i in range(count):
    src = socket.inet_aton("10.%d.%d.%d" % (100 + (i >> 16), (i >> 8) & 0xff, i & 0xff))
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, i & 0xffff, 0, 64, 6, 0, src, dst_ip)
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    tcp = struct.pack("!HHIIBBHHH", 443, 40000 + (i % 20000), 1000 + i, 0, 5 << 4, 0x04, 0, 0, 0)
    s.send(eth + ip + tcp)
print(count, flush=True)
"""


class Survival(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.lab = lab.Lab().__enter__()
        cls.lab.start_server("ok", OK)
        cls.lab.start_server("rst-after-accept", ABORT)

    @classmethod
    def tearDownClass(cls):
        cls.lab.close()

    def config(self, interface="any", extra=""):
        ip = self.lab.server_ip
        return f"""
[capture]
interface = "{interface}"
ports = [{OK}, {ABORT}]
max_peers = 20

[sockets]
interval = "1s"
namespaces = "self"
max_destinations = 20

[[target]]
name = "ok"
url = "http://{ip}:{OK}/"
interval = "1s"
{extra}"""

    def test_wrk_on_metrics_under_churn_with_a_broken_reload(self):
        if shutil.which("wrk") is None:
            self.skipTest("wrk is not installed (scripts/install-deps.sh installs it)")
        if SANITIZED:
            self.skipTest("throughput and RSS under ASan measure the sanitizer; the default "
                          "preset runs this")
        L = self.lab
        with AgentProcess(self.config(), netns=L.client_ns) as agent:
            agent.wait_healthy()
            stop = time.monotonic() + 32
            churner = L.popen_client(["sh", "-c", f"while :; do {lab.binary('lab-gen')} churn "
                                      f"--host {L.server_ip} --port {OK} --count 200 >/dev/null; "
                                      f"{lab.binary('lab-gen')} resets --host {L.server_ip} "
                                      f"--port {ABORT} --count 50 >/dev/null; done"])
            wrk = L.popen_client(["wrk", "-t2", "-c16", "-d30s", "--latency",
                                  f"http://127.0.0.1:{agent.port}/metrics"],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            time.sleep(8)
            rss_warm = rss_kib(agent.proc.pid)
            # A broken config, reloaded under load: logged, old config kept, still serving.
            agent.write_config("[agent]\nlisten = nonsense\n")
            agent.send_signal(signal.SIGHUP)
            time.sleep(1)
            m = agent.metrics()
            self.assertEqual(sample(m, "connwatch_config_last_reload_successful"), 0)
            out, _ = wrk.communicate(timeout=60)
            rss_end = rss_kib(agent.proc.pid)
            churner.kill()
            churner.wait()

            self.assertNotIn("Socket errors", out, out)
            self.assertNotIn("Non-2xx", out, out)
            requests = int(re.search(r"(\d+) requests in", out).group(1))
            self.assertGreater(requests, 1000, out)
            # RSS flat once warm: series are bounded and nothing accumulates per scrape.
            self.assertLess(rss_end, rss_warm * 1.25 + 4096, f"{rss_warm} KiB -> {rss_end} KiB")
            m = agent.metrics()
            self.assertEqual(sample(m, "connwatch_config_last_reload_successful"), 0)
            self.assertGreater(sample(m, "connwatch_probe_attempts_total", target="ok",
                                      outcome="success"), 20)
            self.assertIn("agent.toml", agent.output())
            print(f"wrk: {requests} requests in 30 s, RSS {rss_warm} -> {rss_end} KiB",
                  file=sys.stderr)

    def test_series_stay_bounded_with_100k_peers_and_200_destinations(self):
        L = self.lab
        listener = L.popen_server([sys.executable, "-c", (
            "import socket,sys,time\n"
            "ss=[]\n"
            f"for p in range({MANY_PORTS.start},{MANY_PORTS.stop}):\n"
            "  s=socket.socket(); s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
            f"  s.bind(('{L.server_ip}',p)); s.listen(64); ss.append(s)\n"
            "print('ready',flush=True)\n"
            "while True:\n"
            "  for s in ss:\n"
            "    s.setblocking(False)\n"
            "    try:\n"
            "      c,_=s.accept(); c.close()\n"
            "    except BlockingIOError: pass\n"
            "  time.sleep(0.01)\n")], stdout=subprocess.PIPE, text=True)
        self.assertEqual(listener.stdout.readline().strip(), "ready")
        mac = L.client(["cat", f"/sys/class/net/{L.client_if}/address"], capture_output=True,
                       text=True).stdout.strip()
        with AgentProcess(self.config(), netns=L.client_ns) as agent:
            agent.wait_healthy()
            # 200 destinations with TIME_WAIT: connect and close first, one per port.
            L.client([sys.executable, "-c",
                      "import socket,time\n"
                      f"for p in range({MANY_PORTS.start},{MANY_PORTS.stop}):\n"
                      f"  s=socket.create_connection(('{L.server_ip}',p)); s.close()\n"
                      "time.sleep(0.5)\n"], check=True)
            proc = L.server([sys.executable, "-c", INJECTOR, L.server_if, mac, L.client_ip,
                             "100000"], capture_output=True, text=True, timeout=120)
            self.assertEqual(proc.stdout.strip(), "100000", proc.stderr)

            def counted():
                m = agent.metrics()
                total = sum(v for (n, _), v in m.items() if n == "connwatch_tcp_peer_resets_total")
                return m if total >= 100000 else None
            m = wait_for(counted, 20, 0.5)
            self.assertIsNotNone(m, "not every injected reset was counted")
            peers = {dict(labels)["peer"] for labels in series(m, "connwatch_tcp_peer_resets_total")}
            self.assertLessEqual(len(peers), 21, sorted(peers)[:30])  # 20 + "other"
            self.assertIn("other", peers)
            m = wait_for(lambda: (lambda mm: mm if len(series(mm, "connwatch_time_wait_sockets"))
                                  >= 21 else None)(agent.metrics()), 10)
            destinations = series(m, "connwatch_time_wait_sockets")
            self.assertEqual(len(destinations), 21)  # max_destinations + "other"
            tw = sum(v for (n, _), v in m.items() if n == "connwatch_time_wait_sockets")
            self.assertGreaterEqual(tw, 200)
            self.assertLessEqual(len(series(m, "connwatch_ephemeral_port_utilization_ratio")), 21)
            self.assertLess(len(m), 2000)  # the whole exposition stays small
            if not SANITIZED:  # ASan's shadow and quarantine would be what this measured
                self.assertLess(rss_kib(agent.proc.pid), 200 * 1024)
        listener.kill()

    def test_capture_comes_back_after_its_interface_is_deleted_and_recreated(self):
        L = self.lab
        with AgentProcess(self.config(interface=L.client_if), netns=L.client_ns) as agent:
            agent.wait_healthy()
            up = lambda v: (lambda mm: sample(mm, "connwatch_capture_up") == v)(agent.metrics())
            self.assertTrue(wait_for(lambda: up(1), 5))
            lab._ip("-n", L.client_ns, "link", "del", L.client_if)
            self.assertTrue(wait_for(lambda: up(0), 5), agent.output())
            time.sleep(1)
            lab._ip("link", "add", L.client_if, "netns", L.client_ns, "type", "veth", "peer",
                    "name", L.server_if, "netns", L.server_ns)
            for ns, iface, ip in ((L.client_ns, L.client_if, L.client_ip),
                                  (L.server_ns, L.server_if, L.server_ip)):
                lab._ip("-n", ns, "addr", "add", f"{ip}/{L.prefix_len}", "dev", iface)
                lab._ip("-n", ns, "link", "set", iface, "up")
            self.assertTrue(wait_for(lambda: up(1), 40), agent.output())
            # And it counts again on the new interface.
            L.resets(10, ABORT)
            def counted():
                m = agent.metrics()
                return sum(v for (n, labels), v in m.items() if n == "connwatch_tcp_resets_total"
                           and ("port", str(ABORT)) in labels) >= 10
            self.assertTrue(wait_for(counted, 10))
            self.assertIn(L.client_if, agent.output())


if __name__ == "__main__":
    lab.skip_unless_available()
    unittest.main(verbosity=2)
