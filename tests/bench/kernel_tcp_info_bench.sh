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

exec unshare --net python3 - "$tool" "$sockets" "$here/tests/bench" <<'PY'
import json, os, resource, socket, subprocess, sys, time

tool, total = sys.argv[1], int(sys.argv[2])
sys.path.insert(0, sys.argv[3])
from kernel_bench_common import alternate, inner_collections, report, wall
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

try:
    time.sleep(0.5)
    snapshot = json.loads(subprocess.run([tool, "--format", "json"], capture_output=True,
                                         text=True, check=True).stdout)
    established = snapshot["sockets"]["by_state"]["established"]
    ss_times, our_times = alternate(lambda: wall(["ss", "-tni"]),
                                    lambda: wall([tool, "--format", "json"]), 5)
    inner = inner_collections(tool)
    print(f"established sockets made:      {2 * per_worker * workers} in {made:.1f} s")
    print(f"established seen by connwatch: {established}")
    sys.exit(0 if report("ss -tni", ss_times, our_times, inner) else 1)
finally:
    for pid, _ in children:
        os.kill(pid, 9)
PY
