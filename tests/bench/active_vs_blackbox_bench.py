#!/usr/bin/env python3
"""connwatch's active probes against Prometheus blackbox_exporter, the tool users would otherwise
pick, on the same 200 HTTP targets in the lab at 1 probe/s each for 60 s.

blackbox_exporter is driven the way Prometheus drives it: GET /probe?module=http_2xx&target=...
for every target every second (a driver in the client namespace). connwatch runs the same 200
targets with interval 1s. Each runs alone in the client namespace (so the kernel's ActiveOpens
counter belongs to it), against one nginx serving the 200 ports with keep-alive.

Prints CPU seconds (user+system, from /proc/PID/stat), peak RSS (VmHWM) and new TCP connections
per probe (Tcp ActiveOpens delta / probes), for each and as ratios. Targets (issue 6): connwatch
CPU <= 0.5x blackbox_exporter's and <= 0.01 new connections per probe once warm.

Run as root from the source tree after building:  python3 tests/bench/active_vs_blackbox_bench.py
"""
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import lab  # noqa: E402
from support import AGENT  # noqa: E402
from blackbox_bench_common import (active_opens, cpu_seconds, peak_rss_mib,  # noqa: E402
                                   print_comparison, serve_ports_with_nginx)

TARGETS = 200
FIRST_PORT = 10000
SECONDS = int(os.environ.get("BENCH_SECONDS", "60"))
WARMUP = 5

DRIVER = r"""
import http.client, sys, time, urllib.parse
ip, first, n, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
conn = http.client.HTTPConnection("127.0.0.1", 9115, timeout=10)
end, probes, failed = time.monotonic() + seconds, 0, 0
while time.monotonic() < end:
    tick = time.monotonic()
    for port in range(first, first + n):
        q = urllib.parse.urlencode({"module": "http_2xx", "target": f"http://{ip}:{port}/"})
        conn.request("GET", "/probe?" + q)
        body = conn.getresponse().read().decode()
        probes += 1
        failed += "probe_success 1" not in body
    time.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
print(probes, failed, flush=True)
"""








def measure(L, pid, run_for, count_probes):
    """Warm up, then measure CPU, connections and probes over `run_for` seconds."""
    time.sleep(WARMUP)
    cpu0, opens0, probes0 = cpu_seconds(pid), active_opens(L), count_probes()
    time.sleep(run_for)
    cpu1, opens1, probes1 = cpu_seconds(pid), active_opens(L), count_probes()
    probes = probes1 - probes0
    return {"cpu_s": cpu1 - cpu0, "rss_mib": peak_rss_mib(pid), "probes": probes,
            "new_conns": opens1 - opens0,
            "conns_per_probe": (opens1 - opens0) / probes if probes else float("nan")}


def main():
    lab.skip_unless_available("nginx")
    if not shutil.which("prometheus-blackbox-exporter"):
        subprocess.run(["apt-get", "install", "-y", "-q", "prometheus-blackbox-exporter"],
                       check=True, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    with lab.Lab() as L:
        work = Path(L.workdir)
        serve_ports_with_nginx(L, FIRST_PORT, TARGETS)

        # blackbox_exporter alone.
        bb = L.popen_client(["prometheus-blackbox-exporter", "--config.file",
                             "/etc/prometheus/blackbox.yml", "--web.listen-address",
                             "127.0.0.1:9115"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
        time.sleep(1)
        driver = L.popen_client([sys.executable, "-c", DRIVER, L.server_ip, str(FIRST_PORT),
                                 str(TARGETS), str(SECONDS + WARMUP + 2)],
                                stdout=subprocess.PIPE, text=True)
        started = time.monotonic()
        bb_result = measure(L, bb.pid, SECONDS,
                            lambda: (time.monotonic() - started) * TARGETS)  # driver's pace
        total, failed = map(int, driver.stdout.readline().split())
        bb_result["probes"] = int(total * SECONDS / (SECONDS + WARMUP + 2))
        bb_result["conns_per_probe"] = bb_result["new_conns"] / bb_result["probes"]
        bb_result["failed"] = failed
        bb.terminate()
        bb.wait()

        # connwatch alone.
        targets = "".join(f'[[target]]\nname = "t{p}"\nurl = "http://{L.server_ip}:{p}/"\n'
                          f'interval = "1s"\n\n' for p in range(FIRST_PORT, FIRST_PORT + TARGETS))
        config = work / "agent.toml"
        config.write_text('[agent]\nlisten = "127.0.0.1:9873"\n[capture]\nenabled = false\n'
                          '[sockets]\nenabled = false\n\n' + targets)
        agent = L.popen_client([AGENT, "--config", str(config)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)

        def probes_so_far():
            text = L.client(["curl", "-s", "http://127.0.0.1:9873/metrics"], capture_output=True,
                            text=True).stdout
            return sum(float(line.split()[-1]) for line in text.splitlines()
                       if line.startswith("connwatch_probe_attempts_total{"))
        cw_result = measure(L, agent.pid, SECONDS, probes_so_far)
        text = L.client(["curl", "-s", "http://127.0.0.1:9873/metrics"], capture_output=True,
                        text=True).stdout
        cw_result["failed"] = int(sum(float(l.split()[-1]) for l in text.splitlines()
                                      if l.startswith("connwatch_probe_attempts_total{")
                                      and 'outcome="success"' not in l))
        agent.terminate()
        agent.wait()

    print(f"{TARGETS} HTTP targets at 1/s each, {SECONDS} s after {WARMUP} s warm-up")
    print_comparison((("cpu_s", "CPU seconds"), ("rss_mib", "peak RSS MiB"), ("probes", "probes"),
                      ("new_conns", "new TCP connections"),
                      ("conns_per_probe", "new conns per probe"), ("failed", "failed probes")),
                     bb_result, cw_result)
    ok_cpu = cw_result["cpu_s"] <= 0.5 * bb_result["cpu_s"]
    ok_conns = cw_result["conns_per_probe"] <= 0.01
    print(f"target CPU <= 0.5x: {'met' if ok_cpu else 'MISSED'}; "
          f"new connections per probe <= 0.01: {'met' if ok_conns else 'MISSED'}")


if __name__ == "__main__":
    main()
