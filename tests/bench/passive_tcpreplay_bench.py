#!/usr/bin/env python3
"""Live-capture benchmark at line rate (not part of ctest): tcpreplay writes the replay
benchmark's capture (tests/bench/passive_replay_bench.sh generates it) onto the client end of a
lab veth pair, as fast as it can (--topspeed) and then at each lower rate given, while the agent
captures the server end. For each rate it prints the packets/s tcpreplay reached, the packets the
agent counted against those injected, the capture's kernel drops and the agent's CPU time per
1000 packets; last, the highest rate with 0 kernel drops. It does so for each capture.threads
given (default 1 and 2: PACKET_FANOUT over two handles), then the ratios of threads=N to the
first (counted packets, kernel drops, CPU per 1000 packets, highest 0-drop rate).

    sudo tests/bench/passive_tcpreplay_bench.py [--packets N] [--pps RATE ...] [--threads N ...]
                                                [--build DIR]

Needs root, network namespaces and tcpreplay (scripts/install-deps.sh installs it).
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import lab  # noqa: E402
from support import AgentProcess, sample  # noqa: E402

PORTS = [80, 443, 8080]  # the generator's server ports


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def capture_file(build):
    bench_dir = Path(os.environ.get("BENCH_DIR", "/tmp/connwatch-bench"))
    pcap = bench_dir / "control-1300000.pcap"
    if not pcap.exists():
        bench_dir.mkdir(parents=True, exist_ok=True)
        generator = Path(build) / "tests/probes/passive/passive-replay-bench"
        with open(str(pcap) + ".expected.json", "w") as expected:
            subprocess.run([str(generator), "generate", str(pcap), "--connections", "1300000"],
                           stdout=expected, check=True)
    return pcap


def run_rate(L, agent, pcap, packets, pps):
    """One tcpreplay run; returns (achieved pps, injected, counted, kernel drops, cpu s,
    connections, resets)."""
    before = agent.metrics()
    cpu0 = cpu_seconds(agent.proc.pid)
    rate = ["--topspeed"] if pps is None else ["--pps", str(pps)]
    result = L.client(["tcpreplay", "-q", *rate, "--limit", str(packets), "-i", L.client_if,
                       str(pcap)], capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"tcpreplay failed: {result.stdout}{result.stderr}")
    time.sleep(1.5)  # the capture hands over its last block within 250 ms; a scrape after
    after = agent.metrics()
    cpu = cpu_seconds(agent.proc.pid) - cpu0

    def delta(name, **labels):
        return (sample(after, name, **labels) or 0) - (sample(before, name, **labels) or 0)

    out = result.stdout + result.stderr
    rated = re.search(r"Rated:\s*[\d.]+ Bps,\s*[\d.]+ Mbps,\s*([\d.]+) pps", out)
    sent = re.search(r"Actual:\s*(\d+) packets", out)
    achieved = float(rated.group(1)) if rated else 0.0
    injected = int(sent.group(1)) if sent else packets
    counted = delta("connwatch_capture_packets_total")
    drops = delta("connwatch_capture_dropped_packets_total", where="kernel")

    def family(name):
        return sum(v for (n, _), v in after.items() if n == name) - sum(
            v for (n, _), v in before.items() if n == name)

    return (achieved, injected, counted, drops, cpu, family("connwatch_tcp_connections_total"),
            family("connwatch_tcp_resets_total"))


def run_threads(L, pcap, args, threads):
    """Every rate with an agent of capture.threads = threads; {label: results}, best rate."""
    ports = ", ".join(str(p) for p in PORTS)
    agent = AgentProcess(f'[capture]\ninterface = "{L.server_if}"\nports = [{ports}]\n'
                         f'max_flows = 262144\nthreads = {threads}\n'
                         f'buffer_size = "{args.buffer_size}"\n[sockets]\nenabled = false\n',
                         netns=L.server_ns)
    try:
        agent.wait_healthy()
        time.sleep(1)
        results, best = {}, None
        print(f"capture.threads = {threads} (buffer_size {args.buffer_size} each): {pcap}, "
              f"first {args.packets} packets, agent on {L.server_if}", flush=True)
        for pps in [None, *args.pps]:
            result = run_rate(L, agent, pcap, args.packets, pps)
            achieved, injected, counted, drops, cpu, connections, resets = result
            label = "topspeed" if pps is None else f"{pps} pps"
            results[label] = result
            print(f"{label:>12}: injected {injected} at {achieved:,.0f} packets/s, "
                  f"counted {counted:.0f}, kernel drops {drops:.0f}, "
                  f"agent CPU {1e6 * cpu / max(counted, 1):.3f} ms per 1000 packets "
                  f"(connections {connections:.0f}, resets {resets:.0f})", flush=True)
            if drops == 0 and counted == injected and (best is None or achieved > best):
                best = achieved
        print(f"highest injection rate with 0 kernel drops: "
              f"{'none of these' if best is None else f'{best:,.0f} packets/s'}", flush=True)
        return results, best
    finally:
        agent.close()


def ratio(a, b):
    return f"{a / b:.2f}" if b else ("=" if a == b else "n/a")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--packets", type=int, default=1000000)
    parser.add_argument("--pps", type=int, nargs="*", default=[400000, 200000, 100000])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--buffer-size", default="32MiB", help="capture.buffer_size (each thread)")
    parser.add_argument("--build", default="build/default")
    args = parser.parse_args()
    lab.skip_unless_available()
    if shutil.which("tcpreplay") is None:
        sys.exit("tcpreplay not installed (scripts/install-deps.sh)")
    pcap = capture_file(args.build)
    print(f"{os.cpu_count()} cores on this machine", flush=True)
    with lab.Lab() as L:
        runs = {threads: run_threads(L, pcap, args, threads) for threads in args.threads}
    base = args.threads[0]
    for threads in args.threads[1:]:
        print(f"threads={threads} / threads={base}:")
        for label, (_, _, counted, drops, cpu, connections, _) in runs[threads][0].items():
            _, _, counted0, drops0, cpu0, connections0, _ = runs[base][0][label]
            print(f"{label:>12}: counted {ratio(counted, counted0)}, connections "
                  f"{ratio(connections, connections0)}, kernel drops {ratio(drops, drops0)}, "
                  f"CPU per 1000 packets {ratio(cpu / max(counted, 1), cpu0 / max(counted0, 1))}")
        best, best0 = runs[threads][1], runs[base][1]
        print(f"  highest 0-drop rate: {ratio(best or 0, best0 or 0)}")


if __name__ == "__main__":
    main()
