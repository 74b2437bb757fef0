"""Helpers for tests that drive the real `agent` binary: start it, scrape it, stop it."""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

SOURCE_DIR = os.environ.get(
    "CONNWATCH_SOURCE_DIR",
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BINARY_DIR = os.environ.get("CONNWATCH_BINARY_DIR", os.path.join(SOURCE_DIR, "build", "default"))
AGENT = os.path.join(BINARY_DIR, "agent", "agent")
# Set by CTest in the asan preset: memory is shadowed and quarantined there, so RSS bounds and
# descriptor-starved runs measure the sanitizer, not connwatch.
SANITIZED = os.environ.get("CONNWATCH_SANITIZED") == "1"


def skip(reason):
    """Ends a test script as skipped (CTest SKIP_RETURN_CODE 77), saying why."""
    print(f"SKIP: {reason}", flush=True)
    sys.exit(77)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, data=None, timeout=5, headers=None):
    """Returns (status, body text, headers) without raising on HTTP error statuses."""
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode(), response.headers
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), e.headers


def netns_http(netns, method, url, timeout=5):
    """http() for an address inside a network namespace: curl run there. Headers are not kept.

    Raises OSError when nothing answers, like http() does."""
    result = subprocess.run(["ip", "netns", "exec", netns, "curl", "-sS", "-X", method,
                             "--max-time", str(timeout), "-o", "-", "-w", "\n%{http_code}", url],
                            capture_output=True, text=True, timeout=timeout + 5)
    if result.returncode != 0:
        raise ConnectionError(f"curl {url} in {netns}: {result.stderr.strip()}")
    body, _, status = result.stdout.rpartition("\n")
    return int(status), body, {}


def parse_metrics(text):
    """{(name, frozenset(labels.items())): value} from the Prometheus text format."""
    samples = {}
    line_re = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)')
    label_re = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = line_re.match(line)
        if not m:
            raise ValueError(f"unparsable metrics line: {line!r}")
        labels = frozenset(label_re.findall(m.group(3) or ""))
        samples[(m.group(1), labels)] = float(m.group(4))
    return samples


def sample(samples, name, **labels):
    """The value of one series, or None when absent."""
    return samples.get((name, frozenset(labels.items())))


class AgentProcess:
    """The real agent on a free loopback port, with a config written to a temp dir."""

    def __init__(self, config_text=None, args=(), port=None, netns=None, env=None, agent=AGENT,
                 run_as=None):
        """agent: another copy of the binary (e.g. one with file capabilities). run_as: (user,
        group) to start it as, through setpriv; the config dir and file are then readable by all."""
        self.dir = tempfile.mkdtemp(prefix="connwatch-test-")
        self.config_path = os.path.join(self.dir, "agent.toml")
        self.port = port or free_port()
        self.write_config(config_text if config_text is not None else "")
        self.log_path = os.path.join(self.dir, "agent.log")
        self.netns = netns
        command = [agent, "--config", self.config_path, "--listen", f"127.0.0.1:{self.port}", *args]
        if run_as:
            os.chmod(self.dir, 0o755)
            os.chmod(self.config_path, 0o644)
            command = ["setpriv", f"--reuid={run_as[0]}", f"--regid={run_as[1]}", "--clear-groups",
                       "--", *command]
        if netns:
            command = ["ip", "netns", "exec", netns, *command]
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT,
                                     env={**os.environ, **(env or {})})
        self.base = f"http://127.0.0.1:{self.port}"

    def write_config(self, text):
        with open(self.config_path, "w") as f:
            f.write(text)

    def wait_healthy(self, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"agent exited with {self.proc.returncode}:\n{self.output()}")
            try:
                status, _, _ = self.get("/-/healthy", timeout=1)
                if status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"agent not healthy after {timeout}s:\n{self.output()}")

    def get(self, path, timeout=5):
        if self.netns:
            return netns_http(self.netns, "GET", self.base + path, timeout=timeout)
        return http("GET", self.base + path, timeout=timeout)

    def post(self, path, timeout=5):
        if self.netns:
            return netns_http(self.netns, "POST", self.base + path, timeout=timeout)
        return http("POST", self.base + path, data=b"", timeout=timeout)

    def metrics_text(self):
        status, body, _ = self.get("/metrics")
        assert status == 200, status
        return body

    def metrics(self):
        return parse_metrics(self.metrics_text())

    def output(self):
        self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=5):
        """Sends `sig` and returns (exit code, seconds it took to exit)."""
        if self.proc.poll() is not None:
            return self.proc.returncode, 0.0
        start = time.monotonic()
        self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        return code, time.monotonic() - start

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def wait_until(predicate, timeout=8.0, interval=0.1):
    """Polls predicate() every `interval` s until it is truthy or `timeout` s have passed; returns
    its last value (so a caller can assert on it)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def run_agent(*args, timeout=30, **kwargs):
    """Runs the agent to completion: CompletedProcess with text stdout/stderr."""
    return subprocess.run([AGENT, *args], capture_output=True, text=True, timeout=timeout, **kwargs)


def promtool():
    return shutil.which("promtool")
