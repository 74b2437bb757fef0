#!/usr/bin/env bash
# Benchmark of the kernel socket-table collection (not part of the default ctest run).
#
#   tests/bench/kernel_bench.sh [BUILD_DIR] [SOCKETS]      (root; defaults build/default, 100000)
#
# In a private network namespace (unshare --net; traffic stays on its loopback), it makes SOCKETS
# TIME_WAIT sockets (client-first closes to 4 destinations on lo), then times one full collection
# (kernel-collect-once: every source, both families, all states) side by side with
# `ss -tan state time-wait | wc -l`, alternating runs, and reports medians, their ratio, and the
# collecting process's RSS growth. Targets: ratio <= 1.0, RSS growth <= 16 MiB.
# Exit 77 (skip) without root or namespaces.
set -euo pipefail

here=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$here/build/default}
sockets=${2:-100000}
tool=$build/tests/probes/kernel/kernel-collect-once

if [[ $(id -u) -ne 0 ]]; then echo "SKIP: needs root (network namespace, sysctls)"; exit 77; fi
if [[ ! -x $tool ]]; then echo "kernel-collect-once not built in $build" >&2; exit 2; fi
if ! unshare --net true 2>/dev/null; then echo "SKIP: cannot create a network namespace"; exit 77; fi

exec unshare --net python3 - "$tool" "$sockets" "$here/tests/bench" <<'PY'
import json, os, socket, subprocess, sys, time

tool, total = sys.argv[1], int(sys.argv[2])
sys.path.insert(0, sys.argv[3])
from kernel_bench_common import alternate, inner_collections, report, wall
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
def sysctl(key, value):
    with open("/proc/sys/" + key.replace(".", "/"), "w") as f:
        f.write(value)
# 64k ports per destination, TIME_WAIT kept (no reuse on loopback), room for every bucket.
sysctl("net.ipv4.ip_local_port_range", "1024 65535")
sysctl("net.ipv4.tcp_tw_reuse", "0")
sysctl("net.ipv4.tcp_max_tw_buckets", str(max(262144, total * 2)))

destinations = [("127.0.0.1", 9001), ("127.0.0.1", 9002), ("127.0.0.2", 9001), ("127.0.0.3", 9003)]
listeners = []
for host, port in destinations:
    l = socket.socket()
    l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind((host, port))
    l.listen(128)
    listeners.append(l)

start = time.monotonic()
for i in range(total):
    l = listeners[i % len(listeners)]
    c = socket.create_connection(l.getsockname())
    s, _ = l.accept()
    c.close()  # the client's FIN first: the client side ends in TIME_WAIT
    s.close()
made = time.monotonic() - start

def ss_count():
    out = subprocess.run("ss -tan state time-wait | wc -l", shell=True, capture_output=True,
                         text=True, check=True).stdout
    return int(out) - 1  # header line

time.sleep(0.5)
tw_ss = ss_count()
snapshot = json.loads(subprocess.run([tool, "--format", "json"], capture_output=True, text=True,
                                     check=True).stdout)
tw_ours = snapshot["sockets"]["by_state"]["time_wait"]

ss_times, our_times = alternate(lambda: wall("ss -tan state time-wait | wc -l", shell=True),
                                lambda: wall([tool, "--format", "json"]), 7)
inner = inner_collections(tool)
print(f"TIME_WAIT sockets made:        {total} in {made:.1f} s")
print(f"TIME_WAIT seen by ss:          {tw_ss}")
print(f"TIME_WAIT seen by connwatch:   {tw_ours}  (sockets in the dump: {inner['sockets']})")
ok = report("ss -tan state time-wait|wc -l", ss_times, our_times, inner)
sys.exit(0 if ok and abs(tw_ours - tw_ss) <= tw_ss * 0.01 else 1)
PY
