"""The connwatch integration lab: two network namespaces joined by a veth pair.

    import lab
    lab.skip_unless_available()            # exit 77 with "SKIP: reason" when not possible here
    with lab.Lab() as L:
        L.start_server("rst-after-accept", 9001)
        print(L.resets(5, 9001))           # {"attempted": 5, "connected": 5, "reset": 5, ...}

Client namespace  <L.client_if> 10.77.0.1/24 fd77::1/64  ===veth===  <L.server_if> 10.77.0.2/24
fd77::2/64  server namespace. Names are unique per Lab (cwlab-<pid>-<random>-c/-s), so labs never
collide, also two at once in one process. Teardown (context exit, atexit, SIGTERM/SIGINT) kills
every process the lab started, then deletes both namespaces, which removes the veth pair and all
iptables state with them. `python3 tests/lab/cleanup.py` removes namespaces of killed runs.

Traffic only ever flows inside namespaces this module created. Every wait has a timeout.
"""

from __future__ import annotations

import atexit
import json
import os
import secrets
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from pathlib import Path

__all__ = ["Lab", "Server", "Capture", "LabError", "skip_unless_available", "binary"]

NAME_PREFIX = "cwlab-"
DEFAULT_TIMEOUT = 60.0  # seconds, for any command run in a namespace without its own timeout
START_TIMEOUT = 5.0  # seconds to wait for a server or tcpdump to say it is ready


class LabError(RuntimeError):
    """The lab itself failed (setup, a server that never listened, a tool that crashed)."""


def _source_dir() -> Path:
    return Path(os.environ.get("CONNWATCH_SOURCE_DIR", Path(__file__).resolve().parents[2]))


def _binary_dir() -> Path:
    return Path(os.environ.get("CONNWATCH_BINARY_DIR", _source_dir() / "build" / "default"))


def binary(name: str) -> str:
    """Path of a lab program (lab-server, lab-gen) in the build tree."""
    path = _binary_dir() / "tests" / "lab" / name
    if not os.access(path, os.X_OK):
        raise LabError(f"{path} not found: build it first (cmake --build --preset default)")
    return str(path)


def _skip(reason: str) -> None:
    print(f"SKIP: {reason}", flush=True)
    sys.exit(77)


def skip_unless_available(*tools: str) -> None:
    """Exit 77 with a clear reason unless this host can run the lab.

    Needs root, `ip netns`, veth pairs, and any extra `tools` named (e.g. "tcpdump", "nginx",
    "iptables", "curl"), which are looked up on PATH.
    """
    if os.geteuid() != 0:
        _skip("the integration lab needs root (network namespaces, veth, iptables)")
    for tool in ("ip",) + tools:
        if shutil.which(tool) is None:
            _skip(f"`{tool}` is not installed (scripts/install-deps.sh installs it)")
    probe = f"{NAME_PREFIX}probe-{os.getpid()}-{secrets.token_hex(3)}"
    try:
        if _ip("netns", "add", probe, check=False).returncode != 0:
            _skip("`ip netns add` failed: network namespaces are not available here")
        veth = _ip("-n", probe, "link", "add", "cwprobe0", "type", "veth", "peer", "name",
                   "cwprobe1", check=False)
        if veth.returncode != 0:
            _skip(f"cannot create a veth pair: {veth.stderr.strip()}")
    finally:
        _ip("netns", "del", probe, check=False)


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=20)
    if check and proc.returncode != 0:
        raise LabError(f"ip {' '.join(args)}: {proc.stderr.strip()}")
    return proc


def _stop_process(proc: subprocess.Popen, grace: float = 2.0) -> None:
    """SIGTERM the process group, then SIGKILL after `grace` seconds."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _wait_for_text(path: Path, text: str, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            break
        time.sleep(0.01)
    log = path.read_text(errors="replace") if path.exists() else ""
    state = f"exited {proc.returncode}" if proc.poll() is not None else "still running"
    raise LabError(f"{proc.args!r} did not print {text!r} within {timeout}s ({state}): {log}")


class Server:
    """A lab-server or nginx running in the server namespace."""

    def __init__(self, proc: subprocess.Popen, port: int, log: Path, mode: str):
        self.proc, self.port, self.log, self.mode = proc, port, log, mode

    def stop(self) -> None:
        _stop_process(self.proc)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


class Capture:
    """tcpdump as an independent observer, writing a pcap file packet by packet (-U).

    Returned once tcpdump reports it is listening, so no packet sent after that is missed.
    `count()` reads the pcap file so far; `wait_for(n)` polls it; `stop()` lets the kernel deliver
    the last packets, stops tcpdump (which flushes) and returns one tcpdump text line per packet.
    """

    def __init__(self, lab: "Lab", ns: str, iface: str, bpf: str, packet_count: int | None):
        self.pcap = Path(lab.workdir) / f"capture-{secrets.token_hex(4)}.pcap"
        self._stderr = self.pcap.with_suffix(".log")
        # -Z root: Debian's tcpdump otherwise drops to user tcpdump before writing the file.
        argv = ["tcpdump", "-nn", "-l", "-U", "--immediate-mode", "-Z", "root", "-i", iface,
                "-w", str(self.pcap)]
        if packet_count is not None:
            argv += ["-c", str(packet_count)]
        if bpf:
            argv.append(bpf)
        with open(self._stderr, "wb") as err:
            self._proc = lab._popen(ns, argv, stdout=subprocess.DEVNULL, stderr=err)
        _wait_for_text(self._stderr, "listening on", self._proc, START_TIMEOUT)
        self._lines: list[str] | None = None

    def count(self) -> int:
        """Packets written to the pcap file so far (complete records only)."""
        try:
            data = self.pcap.read_bytes()
        except FileNotFoundError:
            return 0
        offset, packets = 24, 0  # pcap global header; each record: 16-byte header + caplen bytes
        while offset + 16 <= len(data):
            caplen = struct.unpack_from("<I", data, offset + 8)[0]
            if offset + 16 + caplen > len(data):
                break
            offset += 16 + caplen
            packets += 1
        return packets

    def wait_for(self, n: int, timeout: float = 5.0) -> int:
        """Poll until at least n packets were captured or timeout passes; returns the count."""
        deadline = time.monotonic() + timeout
        while (seen := self.count()) < n and time.monotonic() < deadline:
            time.sleep(0.02)
        return seen

    def stop(self, settle: float = 0.3) -> list[str]:
        if self._lines is not None:
            return self._lines
        if self._proc.poll() is None:
            time.sleep(settle)  # packets in flight reach the ring, then tcpdump's loop
            try:
                os.killpg(self._proc.pid, signal.SIGINT)  # SIGINT: tcpdump flushes and exits
            except ProcessLookupError:
                pass
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                _stop_process(self._proc)
        self._lines = self.read()
        return self._lines

    def read(self, *flags: str) -> list[str]:
        """The capture as tcpdump text, one line per packet; flags e.g. "-tt" (epoch seconds)
        or "-v" (with "-v" tcpdump prints two lines per packet, joined here)."""
        read = subprocess.run(["tcpdump", "-nn", *flags, "-r", str(self.pcap)],
                              capture_output=True, text=True, timeout=20)
        lines: list[str] = []
        for line in read.stdout.splitlines():
            if line.startswith((" ", "\t")) and lines:
                lines[-1] += " " + line.strip()
            elif line.strip():
                lines.append(line)
        return lines

    def __enter__(self) -> "Capture":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


_live_labs: "weakref.WeakSet[Lab]" = weakref.WeakSet()
_handlers_installed = False


def _teardown_all() -> None:
    for lab in list(_live_labs):
        lab.close()


def _on_signal(signum, _frame) -> None:
    _teardown_all()
    raise SystemExit(128 + signum)


def _install_handlers() -> None:
    global _handlers_installed
    if _handlers_installed:
        return
    _handlers_installed = True
    atexit.register(_teardown_all)
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, _on_signal)


class Lab:
    client_ip = "10.77.0.1"
    server_ip = "10.77.0.2"
    client_ip6 = "fd77::1"
    server_ip6 = "fd77::2"
    prefix_len, prefix_len6 = 24, 64

    def __init__(self, rfc1337: bool = True) -> None:
        """rfc1337=True sets net.ipv4.tcp_rfc1337=1 in both namespaces: a TIME_WAIT socket then
        ignores RSTs instead of dying (RFC 1337 "TIME-WAIT assassination").

        Without it, about 1 in 300 churned connections loses its TIME_WAIT early on this machine
        under load. The server's pure ACK for the client's FIN sometimes reaches the client after
        the server's FIN|ACK, and the client's TIME_WAIT answers it with an ACK. The server has
        closed by then, so it sends an RST, and tcp_rfc1337=0 (the default) lets that RST delete
        the TIME_WAIT. With the knob set, `ss` counts exactly one TIME_WAIT per churned
        connection. The stray RST (phase "closing") still appears on the wire now and then, so
        passive tests must not expect zero RSTs from churn.
        """
        self.rfc1337 = rfc1337
        token = f"{os.getpid()}-{secrets.token_hex(3)}"
        self.name = f"{NAME_PREFIX}{token}"
        self.client_ns = f"{self.name}-c"
        self.server_ns = f"{self.name}-s"
        short = secrets.token_hex(4)  # interface names are limited to 15 characters
        self.client_if = f"cwc{short}"
        self.server_if = f"cws{short}"
        self.workdir = ""
        self._procs: list[subprocess.Popen] = []
        self._closed = False
        self._lock = threading.Lock()

    # --- lifecycle -----------------------------------------------------------------------------

    def __enter__(self) -> "Lab":
        _install_handlers()
        _live_labs.add(self)
        try:
            self._create()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _create(self) -> None:
        self.workdir = tempfile.mkdtemp(prefix=f"{self.name}-")
        for ns in (self.client_ns, self.server_ns):
            _ip("netns", "add", ns)
            _ip("-n", ns, "link", "set", "lo", "up")
            if self.rfc1337:
                self.run(ns, ["sysctl", "-q", "-w", "net.ipv4.tcp_rfc1337=1"], check=True,
                         capture_output=True, timeout=10)
        # Created directly inside the namespaces, so the names never meet in the root namespace.
        _ip("link", "add", self.client_if, "netns", self.client_ns, "type", "veth", "peer", "name",
            self.server_if, "netns", self.server_ns)
        for ns, iface, ip4, ip6 in ((self.client_ns, self.client_if, self.client_ip,
                                     self.client_ip6),
                                    (self.server_ns, self.server_if, self.server_ip,
                                     self.server_ip6)):
            _ip("-n", ns, "addr", "add", f"{ip4}/{self.prefix_len}", "dev", iface)
            _ip("-n", ns, "-6", "addr", "add", f"{ip6}/{self.prefix_len6}", "dev", iface, "nodad")
            _ip("-n", ns, "link", "set", iface, "up")

    def close(self) -> None:
        """Kill everything the lab started and delete its namespaces. Safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        for proc in reversed(self._procs):
            _stop_process(proc)
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream:
                    stream.close()
        for ns in (self.client_ns, self.server_ns):
            _kill_namespace_pids(ns)
            _ip("netns", "del", ns, check=False)
        if self.workdir and not os.environ.get("CWLAB_KEEP"):
            shutil.rmtree(self.workdir, ignore_errors=True)
        _live_labs.discard(self)

    # --- running commands ----------------------------------------------------------------------

    def _ns(self, ns: str) -> str:
        return {"client": self.client_ns, "server": self.server_ns}.get(ns, ns)

    def run(self, ns: str, cmd: list[str], **kw) -> subprocess.CompletedProcess:
        kw.setdefault("timeout", DEFAULT_TIMEOUT)
        return subprocess.run(["ip", "netns", "exec", self._ns(ns), *cmd], **kw)

    def client(self, cmd: list[str], **kw) -> subprocess.CompletedProcess:
        return self.run(self.client_ns, cmd, **kw)

    def server(self, cmd: list[str], **kw) -> subprocess.CompletedProcess:
        return self.run(self.server_ns, cmd, **kw)

    def _popen(self, ns: str, cmd: list[str], **kw) -> subprocess.Popen:
        if self._closed:
            raise LabError("the lab is closed")
        # Own process group: teardown signals the program and anything it forked.
        proc = subprocess.Popen(["ip", "netns", "exec", self._ns(ns), *cmd],
                                start_new_session=True, **kw)
        self._procs.append(proc)
        return proc

    def popen_client(self, cmd: list[str], **kw) -> subprocess.Popen:
        return self._popen(self.client_ns, cmd, **kw)

    def popen_server(self, cmd: list[str], **kw) -> subprocess.Popen:
        return self._popen(self.server_ns, cmd, **kw)

    # --- servers -------------------------------------------------------------------------------

    def start_server(self, mode: str, port: int, **opts) -> Server:
        """Run lab-server in the server namespace; returns once it listens.

        opts become flags: after="1s" -> --after 1s, retry_after=True -> --retry-after,
        failures=2, delay="2s", keepalive_header=5, bind="10.77.0.2".
        """
        argv = [binary("lab-server"), "--mode", mode, "--port", str(port)]
        for key, value in opts.items():
            flag = "--" + key.replace("_", "-")
            if value is True:
                argv.append(flag)
            elif value not in (None, False):
                argv += [flag, str(value)]
        log = Path(self.workdir) / f"lab-server-{mode}-{port}-{secrets.token_hex(2)}.log"
        with open(log, "wb") as out:
            proc = self._popen(self.server_ns, argv, stdout=out, stderr=subprocess.STDOUT)
        _wait_for_text(log, "listening on", proc, START_TIMEOUT)
        text = log.read_text()
        bound = int(text.split(" port ", 1)[1].split()[0])
        return Server(proc, bound, log, mode)

    def start_nginx(self, port: int, keepalive_timeout: str = "1s") -> Server:
        """Debian's nginx in the server namespace with its own prefix, config, pid and logs.

        Serves 200 "ok\\n" on every path, IPv4 and IPv6. keepalive_timeout is nginx syntax
        ("1s", "75s"); nginx closes idle keep-alive connections with a FIN when it expires.
        """
        prefix = Path(self.workdir) / f"nginx-{port}"
        for sub in ("logs", "tmp"):
            (prefix / sub).mkdir(parents=True, exist_ok=True)
        conf = prefix / "nginx.conf"
        conf.write_text(f"""daemon off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log info;
events {{ worker_connections 1024; }}
http {{
    access_log {prefix}/logs/access.log;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    keepalive_timeout {keepalive_timeout};
    server {{
        listen {port};
        listen [::]:{port};
        location / {{ default_type text/plain; return 200 "ok\\n"; }}
    }}
}}
""")
        log = prefix / "logs" / "stderr.log"
        with open(log, "wb") as out:
            proc = self._popen(self.server_ns, ["nginx", "-p", str(prefix), "-c", str(conf),
                                                "-e", str(prefix / "logs" / "error.log")],
                               stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            ss = self.server(["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True,
                             timeout=5)
            if ss.stdout.strip():
                return Server(proc, port, log, "nginx")
            if proc.poll() is not None:
                break
            time.sleep(0.02)
        err = (prefix / "logs" / "error.log")
        detail = err.read_text(errors="replace") if err.exists() else log.read_text()
        raise LabError(f"nginx did not listen on port {port}: {detail}")

    # --- faults --------------------------------------------------------------------------------

    def iptables_server(self, rule_args: list[str], ip6: bool = False) -> None:
        """Add a netfilter rule in the server namespace (ip6tables when ip6=True).

        Gone with the namespace at teardown. Typical faults:
          ["-A", "INPUT", "-p", "tcp", "--dport", P, "-j", "REJECT", "--reject-with", "tcp-reset"]
          ["-A", "INPUT", "-p", "tcp", "--dport", P, "-j", "DROP"]
        """
        tool = "ip6tables" if ip6 else "iptables"
        proc = self.server([tool, "-w", "5", *map(str, rule_args)], capture_output=True,
                           text=True, timeout=20)
        if proc.returncode != 0:
            raise LabError(f"{tool} {' '.join(map(str, rule_args))}: {proc.stderr.strip()}")

    def reject_with_reset(self, port: int, midstream: bool = False, ip6: bool = False) -> None:
        """A firewall in the server namespace answers with RST (REJECT --reject-with tcp-reset).

        midstream=False matches the SYN: the client's connect() fails with ECONNREFUSED (curl 7),
        the same as a port with no listener. midstream=True matches only segments carrying data
        (PSH): the handshake completes, the request is answered by RST, recv() fails with
        ECONNRESET (curl 56). (Matching "! --syn" instead races the handshake's final ACK and
        also ends as curl 7.)
        """
        match = ["--tcp-flags", "PSH", "PSH"] if midstream else ["--syn"]
        self.iptables_server(["-A", "INPUT", "-p", "tcp", "--dport", str(port), *match, "-j",
                              "REJECT", "--reject-with", "tcp-reset"], ip6=ip6)

    def blackhole(self, port: int, ip6: bool = False) -> None:
        """A firewall in the server namespace silently drops everything to `port`: connects
        time out (curl 28, lab-gen ETIMEDOUT), no RST is ever sent."""
        self.iptables_server(["-A", "INPUT", "-p", "tcp", "--dport", str(port), "-j", "DROP"],
                             ip6=ip6)

    def set_reset_ttl(self, ttl: int) -> None:
        """Every IPv4 RST leaving the server namespace gets this TTL (iptables mangle TTL target),
        so resets look injected by a middlebox: their TTL does not match the flow's (64)."""
        self.iptables_server(["-t", "mangle", "-A", "POSTROUTING", "-p", "tcp", "--tcp-flags",
                              "RST", "RST", "-j", "TTL", "--ttl-set", str(ttl)])

    def set_port_range(self, lo: int, hi: int) -> None:
        """net.ipv4.ip_local_port_range in the client namespace (per-namespace; also IPv6)."""
        proc = self.client(["sysctl", "-w", f"net.ipv4.ip_local_port_range={lo} {hi}"],
                           capture_output=True, text=True, timeout=10)
        if proc.returncode != 0:
            raise LabError(f"cannot set the port range: {proc.stderr.strip()}")

    def client_with_nofile(self, cmd: list[str], n: int, **kw) -> subprocess.CompletedProcess:
        """Run cmd in the client namespace with RLIMIT_NOFILE = n (soft and hard)."""
        return self.client(["prlimit", f"--nofile={n}:{n}", "--", *cmd], **kw)

    # --- traffic generators (lab-gen in the client namespace) ----------------------------------

    def gen(self, subcommand: str, port: int, ip: str | None = None, count: int | None = None,
            nofile: int | None = None, **opts) -> dict:
        """Run `lab-gen SUBCOMMAND` in the client namespace and return its JSON summary."""
        argv = [binary("lab-gen"), subcommand, "--host", ip or self.server_ip, "--port", str(port)]
        if count is not None:
            argv += ["--count", str(count)]
        for key, value in opts.items():
            flag = "--" + key.replace("_", "-")
            if value is True:
                argv.append(flag)
            elif value not in (None, False):
                argv += [flag, str(value)]
        if nofile is not None:
            proc = self.client_with_nofile(argv, nofile, capture_output=True, text=True)
        else:
            proc = self.client(argv, capture_output=True, text=True)
        if proc.returncode != 0 or not proc.stdout.strip():
            raise LabError(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr.strip()}")
        return json.loads(proc.stdout.strip().splitlines()[0])

    def churn(self, n: int, port: int, ip: str | None = None, **opts) -> dict:
        """n connections the client closes first (FIN): exactly n TIME_WAIT in the client ns.

        Each waits for the server's FIN before the next starts. opts: rst=True closes with
        SO_LINGER 0 instead (RST, no TIME_WAIT); send="line" writes a line first.
        """
        return self.gen("churn", port, ip, count=n, **opts)

    def resets(self, n: int, port: int, ip: str | None = None, sent: bool = False,
               **opts) -> dict:
        """n connections that each end in an RST.

        sent=False (default): the client waits for the server's RST (use rst-after-accept, or
        rst-after-response with send=<an HTTP request>); counted in "reset" when recv() fails
        with ECONNRESET. sent=True: the client aborts each connection itself (SO_LINGER 0 close).
        """
        return self.gen("resets", port, ip, count=n, rst=sent, **opts)

    def refused(self, n: int, port: int, ip: str | None = None, **opts) -> dict:
        """n connects to a port with no listener: n ECONNREFUSED (the server's RST answers SYN)."""
        return self.gen("refused", port, ip, count=n, **opts)

    def exhaust(self, port: int, ip: str | None = None, nofile: int | None = None,
                **opts) -> dict:
        """Open connections without closing until one fails; "first_error" names the errno.

        EADDRNOTAVAIL after set_port_range(); EMFILE with nofile=N. opts: max=N, hold="5s".
        """
        return self.gen("exhaust", port, ip, nofile=nofile, **opts)

    def idle(self, port: int, ip: str | None = None, **opts) -> dict:
        """One keep-alive HTTP request, then wait for the server to close the idle connection.

        Returns {"status", "closed_by": fin|reset|timeout, "idle_seconds", ...}.
        opts: timeout="5s", then_send=True (send a second request after the server's FIN: the
        stale-pooled-connection write, answered by RST).
        """
        return self.gen("idle", port, ip, **opts)

    # --- observation ---------------------------------------------------------------------------

    def tcpdump(self, ns: str, iface: str | None = None, bpf: str = "",
                count: int | None = None) -> Capture:
        """Start tcpdump in `ns` ("client", "server" or a namespace name) on `iface` (default: that
        namespace's veth). Returns once tcpdump listens. Use as a context manager or call
        .stop(), which returns one text line per packet."""
        ns_name = self._ns(ns)
        if iface is None:
            iface = self.client_if if ns_name == self.client_ns else self.server_if
        return Capture(self, ns_name, iface, bpf, count)

    def time_wait_count(self, ns: str = "client", port: int | None = None) -> int:
        """TIME_WAIT sockets in a namespace per `ss` (optionally only those to/from `port`)."""
        argv = ["ss", "-Htan", "state", "time-wait"]
        if port is not None:
            argv += [f"( dport = :{port} or sport = :{port} )"]
        proc = self.run(ns, argv, capture_output=True, text=True, timeout=10)
        return len([line for line in proc.stdout.splitlines() if line.strip()])

    def curl(self, url: str, *args: str, max_time: float = 5.0) -> subprocess.CompletedProcess:
        """curl in the client namespace; returncode is curl's exit code (7, 28, 56, ...)."""
        return self.client(["curl", "-sS", "--max-time", str(max_time), *args, url],
                           capture_output=True, text=True, timeout=max_time + 10)

    def url(self, port: int, path: str = "/", ip6: bool = False) -> str:
        host = f"[{self.server_ip6}]" if ip6 else self.server_ip
        return f"http://{host}:{port}{path}"


def _kill_namespace_pids(ns: str) -> None:
    """Anything still inside the namespace (forked children, nginx workers) is killed."""
    pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True, timeout=10)
    for pid in pids.stdout.split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass
