#!/usr/bin/env bash
# Benchmark of the collection with tcp_info (issue 23; not part of the default ctest run).
#
#   tests/bench/kernel_tcp_info_bench.sh [BUILD_DIR] [ESTABLISHED]   (root; defaults
#                                                                     build/default, 100000)
#
# In a private network namespace (unshare --net), ESTABLISHED established sockets (both ends of
# ESTABLISHED/2 loopback connections, held by 10 processes since one process may hold only
# RLIMIT_NOFILE descriptors). Then one full collection (INET_DIAG_INFO in the all-states dump,
# per-socket counters kept by cookie for the next collection) is timed against `ss -tni` (ss -ti
# without name lookups), alternating runs, and the collecting process's RSS growth over 7
# collections is reported. Targets: ratio <= 1.0, RSS growth <= 16 MiB. Exit 77 without root.
set -euo pipefail

here=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$here/build/default}
sockets=${2:-100000}
tool=$build/tests/probes/kernel/kernel-collect-once

if [[ $(id -u) -ne 0 ]]; then echo "SKIP: needs root (network namespace, sysctls)"; exit 77; fi
if [[ ! -x $tool ]]; then echo "kernel-collect-once not built in $build" >&2; exit 2; fi
if ! unshare --net true 2>/dev/null; then echo "SKIP: cannot create a network namespace"; exit 77; fi

exec unshare --net python3 - "$tool" "$sockets" <<'PY'
import json, os, resource, socket, statistics, subprocess, sys, time

tool, total = sys.argv[1], int(sys.argv[2])
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
with open("/proc/sys/net/ipv4/ip_local_port_range", "w") as f:
    f.write("1024 65535")
workers = 10
per_worker = total // 2 // workers  # connections; each is two established sockets
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if 2 * per_worker + 64 > hard:
    sys.exit(f"each worker needs {2 * per_worker + 64} descriptors; the hard limit is {hard}")

children = []
for w in range(workers):
    r, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        l = socket.socket(); l.bind(("127.0.0.1", 10000 + w)); l.listen(4096)
        keep = []
        for _ in range(per_worker):
            c = socket.create_connection(("127.0.0.1", 10000 + w)); s, _ = l.accept()
            c.send(b"x"); s.recv(1)            # a segment each way: an RTT sample
            keep += [c, s]
        os.write(wfd, b"1")
        time.sleep(3600)
        os._exit(0)
    os.close(wfd)
    children.append((pid, r))
start = time.monotonic()
for pid, r in children:
    os.read(r, 1)
made = time.monotonic() - start

def wall(argv):
    t = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t

try:
    time.sleep(0.5)
    snapshot = json.loads(subprocess.run([tool, "--format", "json"], capture_output=True,
                                         text=True, check=True).stdout)
    established = snapshot["sockets"]["by_state"]["established"]
    ss_times, our_times = [], []
    for _ in range(5):
        ss_times.append(wall(["ss", "-tni"]))
        our_times.append(wall([tool, "--format", "json"]))
    inner = json.loads(subprocess.run([tool, "--repeat", "7"], capture_output=True, text=True,
                                      check=True).stdout)
    ss_med, our_med = statistics.median(ss_times), statistics.median(our_times)
    print(f"established sockets made:      {2 * per_worker * workers} in {made:.1f} s")
    print(f"established seen by connwatch: {established}")
    print(f"ss -tni:                       median {ss_med*1000:.1f} ms over {len(ss_times)} runs")
    print(f"kernel-collect-once (process): median {our_med*1000:.1f} ms over {len(our_times)} runs")
    print(f"  ratio connwatch / ss:        {our_med/ss_med:.2f}x  (target <= 1.0)")
    print(f"collect_once() inside process: first {inner['first_seconds']*1000:.1f} ms, "
          f"median {inner['median_seconds']*1000:.1f} ms over {inner['collections']}")
    print(f"  ratio collection / ss:       {inner['median_seconds']/ss_med:.2f}x")
    growth = inner["hwm_kib"] - inner["rss_before_kib"]
    print(f"RSS of the collecting process: {inner['rss_before_kib']} KiB before, "
          f"{inner['rss_after_kib']} KiB after, peak {inner['hwm_kib']} KiB: "
          f"growth {growth/1024:.1f} MiB (target <= 16 MiB)")
    ok = our_med <= ss_med and growth <= 16 * 1024
    sys.exit(0 if ok else 1)
finally:
    for pid, _ in children:
        os.kill(pid, 9)
PY
