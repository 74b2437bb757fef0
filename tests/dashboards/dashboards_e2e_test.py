#!/usr/bin/env python3
"""End to end with a real Prometheus: the agent runs in the lab's client namespace next to a
`prometheus` server (Debian package) that scrapes it every second with the shipped rules. After
a quiet spell the test injects a reset storm and waits, through Prometheus's HTTP API, for
ConnwatchResetRateSpike to fire; then it runs every query of every shipped dashboard panel, with
the variables substituted, and requires each to return data.

Needs root, network namespaces and the prometheus package; exits 77 without them. Takes about
three minutes: the spike alert compares against the rate's own history and holds for 1m."""
import shutil
import tempfile
import time
import unittest
from pathlib import Path

import lab
import prom_harness as H
from support import AgentProcess, skip

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
        H.start_lab_services(L)
        cls.agent = AgentProcess(H.agent_config(L.server_ip), port=H.AGENT_PORT,
                                 netns=L.client_ns).wait_healthy()
        cls.workdir = Path(tempfile.mkdtemp(prefix="connwatch-prom-"))
        cls.prom = H.prometheus_server(L, cls.workdir, f"""
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - {H.DASHBOARDS / "rules" / "connwatch.rules.yml"}
scrape_configs:
  - job_name: connwatch
    static_configs:
      - targets: ["127.0.0.1:{H.AGENT_PORT}"]
""")
        cls.instance = f"127.0.0.1:{H.AGENT_PORT}"
        deadline = time.monotonic() + 30
        while not cls.prom.query("up") and time.monotonic() < deadline:
            time.sleep(0.5)

    @classmethod
    def tearDownClass(cls):
        if hasattr(cls, "agent"):
            cls.agent.close()
        cls.lab.close()
        if hasattr(cls, "prom"):
            cls.prom.close()
        if hasattr(cls, "workdir"):
            shutil.rmtree(cls.workdir, ignore_errors=True)

    def alert_state(self, name):
        alerts = self.prom.alerts(name)
        return alerts[0] if alerts else None

    def test_a_reset_storm_fires_the_spike_alert_and_every_panel_has_data(self):
        L = self.lab
        # Quiet spell: ordinary traffic, client-first closes (TIME_WAIT), no storm.
        start = time.monotonic()
        L.churn(200, H.OK)
        self.assertEqual(self.prom.query("up")[0]["value"][1], "1")
        time.sleep(max(0, QUIET_SECONDS - (time.monotonic() - start)))
        self.assertIsNone(self.alert_state("ConnwatchResetRateSpike"))

        # The storm: every connection to ABORT ends in the server's RST.
        storm_end = time.monotonic() + STORM_SECONDS
        fired = None
        sent = 0
        while time.monotonic() < storm_end:
            sent += L.resets(100, H.ABORT)["reset"]
            alert = self.alert_state("ConnwatchResetRateSpike")
            if alert and alert["state"] == "firing":
                fired = alert
                break
        self.assertIsNotNone(fired, "ConnwatchResetRateSpike never fired:\n"
                             + str(self.prom.api("alerts")))
        self.assertEqual(fired["labels"]["instance"], self.instance)
        self.assertEqual(fired["labels"]["severity"], "warning")
        self.assertEqual(fired["annotations"]["summary"], f"TCP resets on {self.instance} spiked")
        self.assertRegex(fired["annotations"]["description"],
                         rf"^{self.instance} sees \d+\.\d resets/s")
        self.assertEqual(fired["annotations"]["runbook_url"],
                         H.generator().RUNBOOK_BASE + "#reset-rate-spike")
        self.assertGreater(sent, 300)

        # The resets counted equal the ones the storm made (plus the refused probes').
        # Prometheus sees every reset the storm made once the next scrapes land.
        query = 'sum(connwatch_tcp_resets_total{phase="established", sender="server"})'
        deadline = time.monotonic() + 10
        while True:
            counted = float(self.prom.query(query)[0]["value"][1])
            if counted >= sent or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        self.assertGreaterEqual(counted, sent)

        self.check_every_panel_has_data()

    def check_every_panel_has_data(self):
        skipped = []
        empty = H.empty_panels(self.prom, self.instance, self.agent.metrics_text(), skipped)
        if skipped:
            print("skipped until the agent exposes their families:\n  " + "\n  ".join(skipped))
        self.assertEqual(empty, [], "panels without data:\n" + "\n".join(empty))


if __name__ == "__main__":
    lab.skip_unless_available("iptables")
    if shutil.which("prometheus") is None:
        skip("the prometheus server is not installed (Debian package prometheus)")
    unittest.main(verbosity=2)
