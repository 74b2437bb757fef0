#!/usr/bin/env python3
"""connwatch's /probe against Prometheus blackbox_exporter, driven the same way: 200 HTTP targets
in the lab, each probed once a second through GET /probe?module=http_2xx&target=... by a driver
in the client namespace (Prometheus' role), with the same module file for both (issue 20).

Each exporter runs alone in the client namespace (so the kernel's Tcp ActiveOpens counter is its
own, plus the driver's one connection), against one nginx serving the 200 ports with keep-alive.
Prints CPU seconds (user+system, /proc/PID/stat), peak RSS (VmHWM), probes and new TCP
connections per probe (ActiveOpens delta / probes) once warm, each side and as ratios. Targets
(issue 20): connwatch CPU <= 0.2x blackbox_exporter's, <= 0.01 new connections per probe.

Not part of ctest. Run as root from the source tree after building:
    python3 tests/bench/probe_endpoint_vs_blackbox_bench.py      (BENCH_SECONDS=60 by default)
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
MODULES = "modules:\n  http_2xx:\n    prober: http\n    timeout: 5s\n"

# Prometheus' part: every target once a second, over one keep-alive connection to the exporter,
# with the scrape-timeout header Prometheus sends. Prints probes and failed probes at the end.
DRIVER = r"""
import http.client, sys, time, urllib.parse
port, ip, first, n, seconds = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
end, probes, failed = time.monotonic() + seconds, 0, 0
while time.monotonic() < end:
    tick = time.monotonic()
    for p in range(first, first + n):
        q = urllib.parse.urlencode({"module": "http_2xx", "target": f"http://{ip}:{p}/"})
        conn.request("GET", "/probe?" + q, headers={"X-Prometheus-Scrape-Timeout-Seconds": "10"})
        body = conn.getresponse().read().decode()
        probes += 1
        failed += "probe_success 1" not in body
    with open(sys.argv[6], "w") as f:
        f.write(f"{probes} {failed}\n")
    time.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
"""






def exporter_pid(L, port):
    """The exporter's own pid (ip netns exec execs it, but be sure): who listens on `port`."""
    out = L.client(["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True).stdout
    return int(out.split("pid=")[1].split(",")[0])




def run_one(L, work, name, argv, port):
    proc = L.popen_client(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if L.client(["ss", "-Hltn", f"sport = :{port}"], capture_output=True,
                    text=True).stdout.strip():
            break
        time.sleep(0.1)
    pid = exporter_pid(L, port)
    progress = work / f"{name}.progress"
    progress.write_text("0 0\n")
    driver = L.popen_client([sys.executable, "-c", DRIVER, str(port), L.server_ip,
                             str(FIRST_PORT), str(TARGETS), str(SECONDS + WARMUP + 3),
                             str(progress)])

    def probes():
        text = progress.read_text().split()
        return (int(text[0]), int(text[1])) if len(text) == 2 else (0, 0)

    time.sleep(WARMUP)
    cpu0, opens0, (probes0, failed0) = cpu_seconds(pid), active_opens(L), probes()
    time.sleep(SECONDS)
    cpu1, opens1, (probes1, failed1) = cpu_seconds(pid), active_opens(L), probes()
    result = {"cpu_s": cpu1 - cpu0, "rss_mib": peak_rss_mib(pid), "probes": probes1 - probes0,
              "new_conns": opens1 - opens0, "failed": failed1 - failed0}
    result["conns_per_probe"] = result["new_conns"] / max(1, result["probes"])
    result["cpu_ms_per_probe"] = 1000 * result["cpu_s"] / max(1, result["probes"])
    driver.wait(timeout=SECONDS + WARMUP + 30)
    proc.terminate()
    proc.wait(timeout=10)
    return result


def main():
    lab.skip_unless_available("nginx", "nstat")
    if not shutil.which("prometheus-blackbox-exporter"):
        lab._skip("prometheus-blackbox-exporter is not installed (scripts/install-deps.sh)")
    with lab.Lab() as L:
        work = Path(L.workdir)
        serve_ports_with_nginx(L, FIRST_PORT, TARGETS)
        modules = work / "blackbox.yml"
        modules.write_text(MODULES)
        bb = run_one(L, work, "blackbox", ["prometheus-blackbox-exporter",
                                           f"--config.file={modules}",
                                           "--web.listen-address=127.0.0.1:9115"], 9115)
        config = work / "agent.toml"
        config.write_text("[capture]\nenabled = false\n[sockets]\nenabled = false\n"
                          f"[probe]\nmax_pools = {TARGETS * 2}\n")
        cw = run_one(L, work, "connwatch", [AGENT, "--config.file", str(config),
                                            "--web.listen-address", "127.0.0.1:9873",
                                            "--probe.config.file", str(modules)], 9873)

    print(f"{TARGETS} HTTP targets through /probe at 1/s each, {SECONDS} s after {WARMUP} s "
          "warm-up, same module file")
    print_comparison((("cpu_s", "CPU seconds"), ("cpu_ms_per_probe", "CPU ms per probe"),
                      ("rss_mib", "peak RSS MiB"), ("probes", "probes"),
                      ("new_conns", "new TCP connections"),
                      ("conns_per_probe", "new conns per probe"), ("failed", "failed probes")),
                     bb, cw, ratio_digits=3)
    ok_cpu = cw["cpu_ms_per_probe"] <= 0.2 * bb["cpu_ms_per_probe"]
    ok_conns = cw["conns_per_probe"] <= 0.01
    print(f"target CPU per probe <= 0.2x: {'met' if ok_cpu else 'MISSED'}; "
          f"new connections per probe <= 0.01: {'met' if ok_conns else 'MISSED'}")


if __name__ == "__main__":
    main()
