#!/usr/bin/env python3
"""Slowloris for the web server tests: N connections that each send half a request header, then
one more header line every --trickle seconds, and reconnect --reconnect seconds after the server
closes them, for --duration seconds (bounded in time and count).

Prints "ready N" once N connections have been opened, and at the end one JSON line:
{"opened", "closed_by_server", "connect_failed", "responses", "open_at_end",
 "longest_closed_s", "longest_open_s", "lifetimes_closed": [first 50 lifetimes, seconds]}
Run it inside the network namespace of the server (ip netns exec)."""
import argparse
import heapq
import json
import resource
import selectors
import socket
import sys
import time

HEAD = b"GET /metrics HTTP/1.1\r\nHost: slowloris\r\nUser-Agent: slowloris\r\n"
TRICKLE = b"X-Slow: 1\r\n"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--connections", type=int, default=3000)
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--trickle", type=float, default=1.0)
    p.add_argument("--reconnect", type=float, default=1.0, help="negative: never reconnect")
    a = p.parse_args()

    # Each connection is a descriptor: the default soft limit (1024) is too low for 3000.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = a.connections + 64
    if soft < want:
        if hard != resource.RLIM_INFINITY and hard < want:
            hard = want  # root (CAP_SYS_RESOURCE) may raise the hard limit too
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        except (ValueError, OSError) as e:
            print(f"cannot raise RLIMIT_NOFILE to {want}: {e}", file=sys.stderr)
            return 2

    sel = selectors.DefaultSelector()
    timers = []  # (when, seq, action, slot)
    seq = 0
    stats = {"opened": 0, "closed_by_server": 0, "connect_failed": 0, "responses": 0}
    lifetimes = []
    born = {}  # slot -> (socket, connected at)
    start = time.monotonic()
    end = start + a.duration
    ready_printed = False

    def schedule(when, action, slot):
        nonlocal seq
        seq += 1
        heapq.heappush(timers, (when, seq, action, slot))

    def connect(slot):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex((a.host, a.port))
        sel.register(s, selectors.EVENT_WRITE, ("connecting", slot))

    def closed(s, slot, by_server):
        sel.unregister(s)
        s.close()
        if slot in born and born[slot][0] is s:
            lifetimes.append(time.monotonic() - born.pop(slot)[1])
        if by_server:
            stats["closed_by_server"] += 1
        if a.reconnect >= 0:
            schedule(time.monotonic() + a.reconnect, "connect", slot)

    for slot in range(a.connections):
        connect(slot)

    while True:
        now = time.monotonic()
        if now >= end:
            break
        if not ready_printed and stats["opened"] >= a.connections:
            print(f"ready {stats['opened']}", flush=True)
            ready_printed = True
        timeout = min(end - now, timers[0][0] - now if timers else 0.1, 0.1)
        for key, events in sel.select(timeout=max(timeout, 0)):
            s, (state, slot) = key.fileobj, key.data
            if state == "connecting":
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    stats["connect_failed"] += 1
                    closed(s, slot, False)
                    continue
                stats["opened"] += 1
                born[slot] = (s, time.monotonic())
                try:
                    s.send(HEAD)
                except OSError:
                    closed(s, slot, True)
                    continue
                sel.modify(s, selectors.EVENT_READ, ("open", slot))
                schedule(time.monotonic() + a.trickle, "trickle", (slot, s))
            else:
                try:
                    data = s.recv(65536)
                except OSError:
                    data = b""
                if data:
                    stats["responses"] += 1
                closed(s, slot, True)
        now = time.monotonic()
        while timers and timers[0][0] <= now:
            _, _, action, slot = heapq.heappop(timers)
            if action == "connect":
                if now < end:
                    connect(slot)
            else:
                slot, s = slot
                if born.get(slot, (None,))[0] is not s:
                    continue  # that connection is gone
                try:
                    s.send(TRICKLE)
                except OSError:
                    continue  # the read side reports the close
                schedule(now + a.trickle, "trickle", (slot, s))

    now = time.monotonic()
    open_ages = [now - t for _, t in born.values()]
    print(json.dumps({**stats, "open_at_end": len(born),
                      "longest_closed_s": round(max(lifetimes, default=0.0), 3),
                      "longest_open_s": round(max(open_ages, default=0.0), 3),
                      "lifetimes_closed": [round(x, 3) for x in lifetimes[:50]]}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
