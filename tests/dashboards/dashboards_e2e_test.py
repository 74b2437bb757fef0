#!/usr/bin/env python3
"""End to end with a real Prometheus: the agent runs in the lab's client namespace next to a
`prometheus` server (Debian package) that scrapes it every second with the shipped rules. After
a quiet spell the test injects a reset storm and waits, through Prometheus's HTTP API, for
ConnwatchResetRateSpike to fire; then it runs every query of every shipped dashboard panel, with
the variables substituted, and requires each to return data.

Needs root, network namespaces and the prometheus package; exits 77 without them. Takes about
three minutes: the spike alert compares against the rate's own history and holds for 1m."""
import json
import shutil
import subprocess
import tempfile
import time
import unittest
import urllib.parse
from pathlib import Path

import lab
from support import SOURCE_DIR, AgentProcess, free_port, netns_http, skip

DASHBOARDS = Path(SOURCE_DIR) / "dashboards"
OK, IDLE_CLOSE, ABORT, REFUSED = 8380, 8381, 8382, 8383
AGENT_PORT, PROM_PORT = 9873, 9090
QUIET_SECONDS = 75  # history before the storm: the spike is measured against it
STORM_SECONDS = 100


class PrometheusEndToEnd(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.lab = L = lab.Lab().__enter__()
        try:
            cls._start(L)
        except BaseException:
            L.close()
            raise

    @classmethod
    def _start(cls, L):
        L.start_server("ok", OK)
        L.start_server("idle-close", IDLE_CLOSE, after="1s")
        L.start_server("rst-after-accept", ABORT)
        # nf_conntrack for the Sockets dashboard's conntrack panel (a no-op rule loads it).
        L.client(["iptables", "-A", "OUTPUT", "-m", "conntrack", "--ctstate", "INVALID", "-j",
                  "DROP"], capture_output=True)
        ip = L.server_ip
        cls.agent = AgentProcess(f"""
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
url = "http://{ip}:{OK}/"
interval = "1s"

[[target]]
name = "idle-close"
url = "http://{ip}:{IDLE_CLOSE}/"
interval = "2s"

[[target]]
name = "refused"
url = "tcp://{ip}:{REFUSED}"
interval = "5s"
""", port=AGENT_PORT, netns=L.client_ns).wait_healthy()
        cls.workdir = Path(tempfile.mkdtemp(prefix="connwatch-prom-"))
        (cls.workdir / "prometheus.yml").write_text(f"""
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - {DASHBOARDS / "rules" / "connwatch.rules.yml"}
scrape_configs:
  - job_name: connwatch
    static_configs:
      - targets: ["127.0.0.1:{AGENT_PORT}"]
""")
        cls.prom_log = open(cls.workdir / "prometheus.log", "w")
        cls.prometheus = L.popen_client(
            ["prometheus", f"--config.file={cls.workdir / 'prometheus.yml'}",
             f"--storage.tsdb.path={cls.workdir / 'data'}",
             f"--web.listen-address=127.0.0.1:{PROM_PORT}"],
            stdout=cls.prom_log, stderr=subprocess.STDOUT)
        cls.instance = f"127.0.0.1:{AGENT_PORT}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if cls.api("query", query="up")["result"]:
                    break
            except (ConnectionError, AssertionError, ValueError):
                pass
            time.sleep(0.5)
        else:
            raise AssertionError("prometheus did not come up:\n" + cls.prom_output())

    @classmethod
    def tearDownClass(cls):
        if hasattr(cls, "agent"):
            cls.agent.close()
        cls.lab.close()
        if hasattr(cls, "prom_log"):
            cls.prom_log.close()
        if hasattr(cls, "workdir"):
            shutil.rmtree(cls.workdir, ignore_errors=True)

    @classmethod
    def prom_output(cls):
        return (cls.workdir / "prometheus.log").read_text()[-3000:]

    @classmethod
    def api(cls, endpoint, **params):
        url = f"http://127.0.0.1:{PROM_PORT}/api/v1/{endpoint}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        status, body, _ = netns_http(cls.lab.client_ns, "GET", url, timeout=10)
        data = json.loads(body)
        assert status == 200 and data["status"] == "success", body
        return data["data"]

    def alert_state(self, name):
        for alert in self.api("alerts")["alerts"]:
            if alert["labels"]["alertname"] == name:
                return alert
        return None

    def test_a_reset_storm_fires_the_spike_alert_and_every_panel_has_data(self):
        L = self.lab
        # Quiet spell: ordinary traffic, client-first closes (TIME_WAIT), no storm.
        start = time.monotonic()
        L.churn(200, OK)
        self.assertEqual(self.api("query", query="up")["result"][0]["value"][1], "1")
        time.sleep(max(0, QUIET_SECONDS - (time.monotonic() - start)))
        self.assertIsNone(self.alert_state("ConnwatchResetRateSpike"))

        # The storm: every connection to ABORT ends in the server's RST.
        storm_end = time.monotonic() + STORM_SECONDS
        fired = None
        sent = 0
        while time.monotonic() < storm_end:
            sent += L.resets(100, ABORT)["reset"]
            alert = self.alert_state("ConnwatchResetRateSpike")
            if alert and alert["state"] == "firing":
                fired = alert
                break
        self.assertIsNotNone(fired, "ConnwatchResetRateSpike never fired:\n"
                             + json.dumps(self.api("alerts"), indent=1))
        self.assertEqual(fired["labels"]["instance"], self.instance)
        self.assertEqual(fired["labels"]["severity"], "warning")
        self.assertRegex(fired["annotations"]["summary"],
                         rf"^TCP resets on {self.instance} spiked to \d+\.\d/s$")
        self.assertEqual(fired["annotations"]["runbook"], "dashboards/RUNBOOK.md#reset-rate-spike")
        self.assertGreater(sent, 300)

        # The resets counted equal the ones the storm made (plus the refused probes').
        # Prometheus sees every reset the storm made once the next scrapes land.
        query = 'sum(connwatch_tcp_resets_total{phase="established", sender="server"})'
        deadline = time.monotonic() + 10
        while True:
            counted = float(self.api("query", query=query)["result"][0]["value"][1])
            if counted >= sent or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        self.assertGreaterEqual(counted, sent)

        self.check_every_panel_has_data()

    def check_every_panel_has_data(self):
        substitutions = {
            "$instance": self.instance.replace(".", "\\\\."),
            "$target": ".+",
            "$__rate_interval": "30s",
            "$__range": "5m",
        }
        empty = []
        checked = 0
        for path in sorted((DASHBOARDS / "grafana").glob("*.json")):
            dashboard = json.loads(path.read_text())
            for panel in dashboard["panels"]:
                for target in panel.get("targets", []):
                    expr = target["expr"]
                    for var, value in substitutions.items():
                        expr = expr.replace(var, value)
                    self.assertNotIn("$", expr)
                    result = self.api("query", query=expr)["result"]
                    checked += 1
                    if not result:
                        empty.append(f"{dashboard['title']} / {panel['title']}: {expr}")
        self.assertGreater(checked, 30)
        self.assertEqual(empty, [], "panels without data:\n" + "\n".join(empty))


if __name__ == "__main__":
    lab.skip_unless_available("iptables")
    if shutil.which("prometheus") is None:
        skip("the prometheus server is not installed (Debian package prometheus)")
    unittest.main(verbosity=2)
