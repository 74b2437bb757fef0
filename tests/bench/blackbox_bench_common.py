"""What the benchmarks against blackbox_exporter share (active_vs_blackbox_bench.py,
probe_endpoint_vs_blackbox_bench.py): one nginx serving the targets, the per-process measures
(CPU seconds, peak RSS), the client namespace's new TCP connections, and the side-by-side table.

Also cpu_seconds() for any benchmark timing a process it did not start (passive benches)."""
import json
import os
import time
from pathlib import Path

HZ = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """User + system CPU seconds of process `pid` so far (/proc/PID/stat utime + stime)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / HZ


def peak_rss_mib(pid):
    """Peak resident set of process `pid` (VmHWM), MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def active_opens(L):
    """The lab client namespace's Tcp ActiveOpens: connections opened there so far."""
    out = L.client(["nstat", "-az", "--json", "TcpActiveOpens"], capture_output=True,
                   text=True).stdout
    return json.loads(out)["kernel"]["TcpActiveOpens"]


def serve_ports_with_nginx(L, first_port, count):
    """One nginx in the lab's server namespace answering 200 "ok" on `count` ports from
    `first_port`, keep-alive kept long so the probers' reuse is what is measured."""
    work = Path(L.workdir)
    listens = "\n".join(f"    listen {L.server_ip}:{p};"
                        for p in range(first_port, first_port + count))
    (work / "nginx.conf").write_text(f"""
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/nginx.err;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  keepalive_timeout 75s;
  keepalive_requests 100000;
  server {{
{listens}
    location / {{ return 200 "ok\\n"; }}
  }}
}}
""")
    L.popen_server(["nginx", "-c", str(work / "nginx.conf"), "-g", "daemon off;"])
    time.sleep(1)


def print_comparison(rows, blackbox, connwatch, ratio_digits=2):
    """A table of (key, label) rows: blackbox_exporter's value, connwatch's, and their ratio."""
    width = max(len(label) for _, label in rows) + 2
    print(f"{'':{width}}{'blackbox_exporter':>20}{'connwatch':>14}{'ratio':>10}")
    for key, label in rows:
        b, c = blackbox[key], connwatch[key]
        ratio = f"{c / b:.{ratio_digits}f}x" if b else "-"
        print(f"{label:{width}}{b:>20.3f}{c:>14.3f}{ratio:>10}")
