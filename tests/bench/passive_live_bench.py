#!/usr/bin/env python3
"""Live-capture benchmark (not part of ctest): the agent captures in the lab's client namespace
while lab-gen churns connections as fast as it can for SECONDS (default 10) on 2 workers.

Prints the connection rate reached, the capture's kernel and interface drops (target: 0), whether
the agent counted every connection, and the agent's CPU time per 1000 captured packets.

    sudo tests/bench/passive_live_bench.py [SECONDS]
"""
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import lab  # noqa: E402
from support import AgentProcess, sample  # noqa: E402

PORTS = [8080, 8081, 8082, 8083]
WORKERS = 2
BATCH = 4000


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def agent_pid(proc):
    # AgentProcess runs `ip netns exec ... agent`; ip execs the agent, so the pid is the same.
    return proc.proc.pid


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
    lab.skip_unless_available()
    with lab.Lab() as L:
        for port in PORTS:
            L.start_server("ok", port)
        L.set_port_range(1024, 65000)
        ports = ", ".join(str(p) for p in PORTS)
        agent = AgentProcess(f'[capture]\nports = [{ports}]\n[sockets]\nenabled = false\n',
                             netns=L.client_ns)
        agent.wait_healthy()
        time.sleep(1)
        pid = agent_pid(agent)
        before = agent.metrics()
        cpu0 = cpu_seconds(pid)
        start = time.monotonic()
        made = 0
        workers = []
        port_index = 0
        while time.monotonic() - start < seconds or workers:
            workers = [w for w in workers if w.poll() is None]
            while len(workers) < WORKERS and time.monotonic() - start < seconds:
                port = PORTS[port_index % len(PORTS)]
                port_index += 1
                workers.append(L.popen_client([lab.binary("lab-gen"), "churn", "--host",
                                               L.server_ip, "--port", str(port), "--count",
                                               str(BATCH)], stdout=subprocess.DEVNULL))
                made += BATCH
            time.sleep(0.01)
        elapsed = time.monotonic() - start
        time.sleep(1)  # the capture hands over its last block within 250 ms
        after = agent.metrics()
        cpu = cpu_seconds(pid) - cpu0

        def delta(name, **labels):
            return (sample(after, name, **labels) or 0) - (sample(before, name, **labels) or 0)

        connections = sum(delta("connwatch_tcp_connections_total", port=str(p)) for p in PORTS)
        packets = delta("connwatch_capture_packets_total")
        drops_kernel = delta("connwatch_capture_dropped_packets_total", where="kernel")
        drops_iface = delta("connwatch_capture_dropped_packets_total", where="interface")
        print(f"connections made:            {made} in {elapsed:.1f} s = {made / elapsed:,.0f}/s")
        print(f"connections counted:         {connections:.0f}  ({'all' if connections == made else 'MISSING ' + str(made - connections)})")
        print(f"packets captured:            {packets:.0f}")
        print(f"kernel drops:                {drops_kernel:.0f}   interface drops: {drops_iface:.0f}  (target 0)")
        print(f"agent CPU:                   {cpu:.2f} s = {1e6 * cpu / max(packets, 1):.2f} ms per 1000 packets "
              f"({100 * cpu / elapsed:.0f}% of one core)")
        agent.close()


if __name__ == "__main__":
    main()
