"""What the Prometheus end-to-end tests share: the lab services and agent config that make
every dashboard panel show data, a Prometheus-family process (prometheus, alertmanager,
pushgateway) run inside a namespace and queried through its HTTP API, and every panel query of
the shipped dashboards with the variables substituted.

Used by dashboards_e2e_test.py (one agent, one Prometheus) and fleet_e2e_test.py (two agents,
Prometheus in agent mode, remote write to a central Prometheus, Alertmanager, Pushgateway)."""
import importlib.util
import json
import subprocess
import time
import urllib.parse
from pathlib import Path

from support import SOURCE_DIR, netns_http

DASHBOARDS = Path(SOURCE_DIR) / "dashboards"

# Service ports in the lab's server namespace (each lab has its own, so fixed numbers are safe).
OK, IDLE_CLOSE, ABORT, REFUSED = 8380, 8381, 8382, 8383
AGENT_PORT = 9873

# Panel queries that read metric families this branch's agent may not expose yet (issues 16 and
# 23 add them in parallel): a query containing the key is skipped only while the agent's
# /metrics lacks the value, and checked like every other as soon as the agent has it.
NOT_YET_EXPOSED = {
    "destination:connwatch_retransmission_ratio:rate5m":
        "connwatch_destination_retransmitted_segments_total",
    "connwatch_destination_rtt_seconds": "connwatch_destination_rtt_seconds",
    "netns:connwatch_retransmission_ratio:rate5m": 'counter="RetransSegs"',
    "TCPSynRetrans|TCPTimeouts|TCPLostRetransmit": 'counter="TCPSynRetrans"',
    "connwatch_probe_tcp_rtt_seconds": "connwatch_probe_tcp_rtt_seconds",
    "connwatch_probe_tcp_retransmits_total": "connwatch_probe_tcp_retransmits_total",
}


def generator():
    """dashboards/generate.py as a module: tests write their own copy of the rules with it."""
    spec = importlib.util.spec_from_file_location("connwatch_generate", DASHBOARDS / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def start_lab_services(L):
    """Servers for the agent's targets and the storm, and nf_conntrack in the client namespace
    (a no-op rule loads it) for the Sockets dashboard's conntrack panel."""
    L.start_server("ok", OK)
    L.start_server("idle-close", IDLE_CLOSE, after="1s")
    L.start_server("rst-after-accept", ABORT)
    L.client(["iptables", "-A", "OUTPUT", "-m", "conntrack", "--ctstate", "INVALID", "-j",
              "DROP"], capture_output=True)


def agent_config(server_ip):
    """An agent config whose targets and capture feed every panel: a healthy target, one whose
    server closes idle connections (stale pooled resets), a refused port (probe failures, a
    trickle of handshake resets), and the storm's port in the capture list."""
    return f"""
[capture]
interface = "any"
ports = [{OK}, {IDLE_CLOSE}, {ABORT}]

[sockets]
interval = "1s"

[pool]
idle_timeout = "30s"
connect_timeout = "500ms"
request_timeout = "1s"

[retry]
max_attempts = 2
base_delay = "50ms"
max_delay = "100ms"

[[target]]
name = "ok"
url = "http://{server_ip}:{OK}/"
interval = "1s"

[[target]]
name = "idle-close"
url = "http://{server_ip}:{IDLE_CLOSE}/"
interval = "2s"

[[target]]
name = "refused"
url = "tcp://{server_ip}:{REFUSED}"
interval = "5s"
"""


class Service:
    """A Prometheus-family server started in a lab's client namespace (the lab stops it), with
    its log kept for failures. `base` is its URL as seen from that namespace; `get` and `api`
    talk to it from there."""

    def __init__(self, L, name, argv, base, workdir, ready_path="/-/ready", timeout=30):
        self.ns, self.name, self.base = L.client_ns, name, base
        self.log_path = Path(workdir) / f"{name}.log"
        self._log = open(self.log_path, "w")
        self.proc = L.popen_client(argv, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                if self.get(ready_path, timeout=2)[0] == 200:
                    return
            except ConnectionError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"{name} did not come up:\n{self.output()}")

    def output(self):
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-3000:]

    def get(self, path, timeout=10):
        return netns_http(self.ns, "GET", self.base + path, timeout=timeout)

    def api(self, endpoint, **params):
        """Prometheus's /api/v1/ENDPOINT; the `data` member of a successful answer."""
        path = f"/api/v1/{endpoint}"
        if params:
            path += "?" + urllib.parse.urlencode(params)
        status, body, _ = self.get(path)
        data = json.loads(body)
        assert status == 200 and data["status"] == "success", body
        return data["data"]

    def query(self, expr):
        return self.api("query", query=expr)["result"]

    def alerts(self, name, state=None):
        """The alerts named `name` (state "pending" or "firing" to filter) in Prometheus."""
        return [a for a in self.api("alerts")["alerts"]
                if a["labels"]["alertname"] == name and state in (None, a["state"])]

    def close(self):
        self._log.close()


def prometheus_server(L, workdir, config_text, port=9090, host="127.0.0.1", agent=False,
                      extra=()):
    """A Prometheus server in the lab's client namespace with `config_text` as its config;
    agent=True runs it in agent mode (scrape and remote-write only: no rules, no queries)."""
    workdir = Path(workdir)
    name = f"prometheus-{port}-{L.client_ns[-12:]}"
    config = workdir / f"{name}.yml"
    config.write_text(config_text)
    storage = workdir / (name + "-data")
    argv = ["prometheus", f"--config.file={config}", f"--web.listen-address={host}:{port}"]
    if agent:
        argv += ["--enable-feature=agent", f"--storage.agent.path={storage}"]
    else:
        argv += [f"--storage.tsdb.path={storage}"]
    return Service(L, name, argv + list(extra), f"http://127.0.0.1:{port}", workdir)


def panel_queries(substitutions):
    """(dashboard title, panel title, expr) of every shipped panel, variables substituted."""
    for path in sorted((DASHBOARDS / "grafana").glob("*.json")):
        dashboard = json.loads(path.read_text())
        for panel in dashboard["panels"]:
            for target in panel.get("targets", []):
                expr = target["expr"]
                for var, value in substitutions.items():
                    expr = expr.replace(var, value)
                assert "$" not in expr, expr
                yield dashboard["title"], panel["title"], expr


def not_yet_exposed(expr, agent_metrics_text):
    """The family a query needs that the agent does not expose yet, or None."""
    for marker, needed in NOT_YET_EXPOSED.items():
        if marker in expr and needed not in agent_metrics_text:
            return needed
    return None


def empty_panels(prom, instance, agent_metrics_text, skipped):
    """Runs every panel query for one instance against `prom`; returns the ones without data.

    Queries skipped for a family the agent does not expose yet are appended to `skipped`."""
    substitutions = {
        "$job": ".+",
        "$instance": instance.replace(".", "\\\\."),
        "$target": ".+",
        "$netns": ".*",
        "$__rate_interval": "30s",
        "$__range": "5m",
    }
    empty, checked = [], 0
    for dashboard, panel, expr in panel_queries(substitutions):
        missing = not_yet_exposed(expr, agent_metrics_text)
        if missing:
            skipped.append(f"{dashboard} / {panel} (needs {missing})")
            continue
        checked += 1
        if not prom.query(expr):
            empty.append(f"{instance}: {dashboard} / {panel}: {expr}")
    assert checked > 30, checked
    return empty
