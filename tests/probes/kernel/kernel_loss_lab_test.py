"""Retransmissions per destination (issue 23) with a lossy port in the integration lab.

The server namespace drops 8 % of the segments arriving on one port (iptables `statistic`); a
client in the other namespace uploads over four connections to it and one to a clean port.
kernel-collect-once collects every second in the client namespace through the traffic. Then:
- connwatch_kernel_tcp_events_total{counter="RetransSegs"} equals /proc/net/snmp's within 2 %
  of the delta over the run;
- the lossy destination's connwatch_destination_retransmitted_segments_total holds at least half
  of that delta (sockets alive from before the upload until after it, so nothing is lost between
  collections);
- the clean destination shows no retransmissions;
- `agent --diagnose`, run through the same traffic, raises packet-loss naming the lossy
  destination and not the clean one.
"""

import json
import re
import subprocess
import time
import unittest

import lab
from kernel_lab_test import collect_once_binary
from support import AGENT

LOSSY, CLEAN = 9201, 9202
DROP = 0.08
SECONDS = 4

# Reads everything sent to both ports and throws it away.
SINK = """
import selectors, socket, sys
sel = selectors.DefaultSelector()
for port in map(int, sys.argv[2:]):
    l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind((sys.argv[1], port)); l.listen(16); sel.register(l, selectors.EVENT_READ, "listen")
print("listening", flush=True)
while True:
    for key, _ in sel.select():
        if key.data == "listen":
            c, _ = key.fileobj.accept(); sel.register(c, selectors.EVENT_READ, "data")
        elif not key.fileobj.recv(1 << 16):
            sel.unregister(key.fileobj); key.fileobj.close()
"""

# Connects, prints "connected", uploads for SECONDS (the last port paced at about 4 MB/s, the
# others as fast as they go), waits until every byte is acknowledged
# (TIOCOUTQ 0: retransmissions done), prints "sent", then holds the connections until stdin closes.
UPLOAD = """
import fcntl, socket, struct, sys, termios, time
host, seconds = sys.argv[1], float(sys.argv[2])
conns = [socket.create_connection((host, int(p))) for p in sys.argv[3:]]
print("connected", flush=True)
for c in conns: c.setblocking(False)
chunk = b"x" * 65536
end = time.monotonic() + seconds
paced, n = conns[-1], 0
while time.monotonic() < end:
    for c in conns[:-1]:
        try: c.send(chunk)
        except BlockingIOError: pass
    n += 1
    if n % 16 == 0:
        try: paced.send(chunk)
        except BlockingIOError: pass
    time.sleep(0.001)
def unacked(c): return struct.unpack("i", fcntl.ioctl(c, termios.TIOCOUTQ, b"\\0" * 4))[0]
deadline = time.monotonic() + 30
while any(unacked(c) for c in conns) and time.monotonic() < deadline: time.sleep(0.05)
print("sent", flush=True)
sys.stdin.read()
"""


def retrans_segs(L) -> int:
    text = L.client(["cat", "/proc/net/snmp"], capture_output=True, text=True).stdout.splitlines()
    for header, row in zip(text[::2], text[1::2]):
        if header.startswith("Tcp:"):
            return int(dict(zip(header.split()[1:], row.split()[1:]))["RetransSegs"])
    raise AssertionError("no Tcp section in /proc/net/snmp")


def value(metrics: str, name: str, **labels) -> float:
    body = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    m = re.search("^" + re.escape(f"{name}{{{body}}}") + r" (\S+)$", metrics, re.M)
    return float(m.group(1)) if m else 0.0


class LossPerDestination(unittest.TestCase):
    def test_the_lossy_destination_holds_the_retransmissions(self):
        with lab.Lab() as L:
            sink = L.popen_server(["python3", "-c", SINK, L.server_ip, str(LOSSY), str(CLEAN)],
                                  stdout=subprocess.PIPE, text=True)
            self.assertEqual(sink.stdout.readline().strip(), "listening")
            L.iptables_server(["-A", "INPUT", "-p", "tcp", "--dport", str(LOSSY), "-m",
                               "statistic", "--mode", "random", "--probability", str(DROP), "-j",
                               "DROP"])
            collections = SECONDS + 6
            agent = L.popen_client([collect_once_binary(), "--format", "prometheus",
                                    "--collections", str(collections), "--sleep-ms", "1000"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            config = f"{L.workdir}/diagnose.toml"
            with open(config, "w") as f:
                f.write('[capture]\nenabled = false\n[sockets]\nnamespaces = "self"\n')
            diagnose = L.popen_client([AGENT, "--diagnose", "--duration", str(SECONDS + 4),
                                       "--format", "json", "--config", config],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            time.sleep(0.5)  # after the first collection, the baseline; nothing moves meanwhile
            before = retrans_segs(L)
            upload = L.popen_client(["python3", "-c", UPLOAD, L.server_ip, str(SECONDS),
                                     *[str(LOSSY)] * 4, str(CLEAN)],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            self.assertEqual(upload.stdout.readline().strip(), "connected")
            self.assertEqual(upload.stdout.readline().strip(), "sent")
            after = retrans_segs(L)
            metrics, errors = agent.communicate(timeout=collections + 20)
            report, diagnose_errors = diagnose.communicate(timeout=SECONDS + 30)
            upload.stdin.close()
            upload.wait(timeout=10)
            self.assertEqual(agent.returncode, 0, errors)

            delta = after - before
            self.assertGreater(delta, 100, "the drop rule made no retransmissions")
            netns = L.client_ns
            host_wide = value(metrics, "connwatch_kernel_tcp_events_total", counter="RetransSegs",
                              netns=netns)
            self.assertAlmostEqual(host_wide, after, delta=0.02 * delta)
            lossy = value(metrics, "connwatch_destination_retransmitted_segments_total",
                          destination=f"{L.server_ip}:{LOSSY}", netns=netns)
            self.assertGreaterEqual(lossy, delta / 2, metrics)
            self.assertLessEqual(lossy, delta * 1.02)
            lossy_sent = value(metrics, "connwatch_destination_sent_segments_total",
                               destination=f"{L.server_ip}:{LOSSY}", netns=netns)
            clean = value(metrics, "connwatch_destination_retransmitted_segments_total",
                          destination=f"{L.server_ip}:{CLEAN}", netns=netns)
            clean_sent = value(metrics, "connwatch_destination_sent_segments_total",
                               destination=f"{L.server_ip}:{CLEAN}", netns=netns)
            print(f"RetransSegs delta {delta}, lossy {lossy:.0f} of {lossy_sent:.0f} sent, "
                  f"clean {clean:.0f} of {clean_sent:.0f} sent")
            self.assertGreater(clean_sent, 100)
            # Nothing drops the clean port's segments. A loaded machine may still delay an ACK past
            # the tail-loss-probe timer (a TLP counts as a retransmission), so allow a trace: far
            # below the lossy port's ratio.
            self.assertLessEqual(clean, max(2, 0.002 * clean_sent))
            self.assertLess(clean / clean_sent, lossy / lossy_sent / 10)
            self.assertGreater(value(metrics, "connwatch_destination_rtt_seconds",
                                     destination=f"{L.server_ip}:{LOSSY}", netns=netns,
                                     stat="max"), 0)

            # Diagnose over the same traffic: the lossy destination named, the clean one not.
            self.assertEqual(diagnose.returncode, 1, diagnose_errors)
            found = [f for f in json.loads(report)["findings"] if f["id"] == "packet-loss"]
            self.assertEqual(len(found), 1, report)
            named = [d["destination"] for d in found[0]["evidence"]["destinations"]]
            self.assertEqual(named, [f"{L.server_ip}:{LOSSY}"], found[0])
            self.assertIn(f"{L.server_ip}:{LOSSY}", found[0]["summary"])
            self.assertIn(f"mtr -T -P {LOSSY}", found[0]["recommendation"])
            print(found[0]["summary"])


if __name__ == "__main__":
    lab.skip_unless_available("ss", "iptables", "python3")
    unittest.main(verbosity=2)
