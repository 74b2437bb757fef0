#!/usr/bin/env python3
"""The fleet and alert path end to end (SPEC §7, issue 19), with the real Debian servers:

    lab A client ns: agent A <- Prometheus (agent mode) --remote write--+
    lab B client ns: agent B <- Prometheus (agent mode) --remote write--+
                                                                       v
    hub ns: central Prometheus (--web.enable-remote-write-receiver, the shipped rules with
            `for:` shortened through generate.py) -> Alertmanager -> webhook (this test);
            Pushgateway, scraped by the central Prometheus

The three configs are the shipped examples (dashboards/provisioning/prometheus-agent.yml,
prometheus-central.yml, alertmanager.yml) with this lab's addresses and 1 s intervals; every
Alertmanager receiver becomes a webhook to this test that records which receiver it was. Each
host's Prometheus labels its agent's series instance="host-a:9873" / "host-b:9873", as a fleet's
hosts would be. The test then shows, against the central Prometheus only:
- a `--diagnose` run pushed to the Pushgateway (and written as a textfile) arrives with its
  findings;
- a reset storm on host A fires ConnwatchResetRateSpike for host A and never for host B, and
  Alertmanager routes it (severity warning) to the chat receiver with its absolute runbook_url;
- every dashboard panel query returns data for both instances (panels of families this branch's
  agent does not expose yet are skipped by name: prom_harness.NOT_YET_EXPOSED);
- killing agent B fires ConnwatchAgentDown for host B only, routed (critical) to the pager.

Needs root, network namespaces and the prometheus, prometheus-alertmanager and
prometheus-pushgateway packages; exits 77 without them. Takes about 1.5 minutes."""
import ctypes
import http.server
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import unittest
from pathlib import Path

import yaml

import lab
import prom_harness as H
from support import AGENT, AgentProcess, parse_metrics, skip

CENTRAL, PUSHGATEWAY, ALERTMANAGER, WEBHOOK = 9090, 9091, 9093, 9094  # in the hub namespace
AGENT_PROMETHEUS = 9090  # in each host's namespace
HOSTS = {"a": "10.88.1", "b": "10.88.2"}  # the link from each host to the hub: .1 hub, .2 host
FOR = "5s"  # every alert's `for:` in this test's copy of the rules (the shipped ones: 1m, 5m...)
CLONE_NEWNET = 0x40000000
PROVISIONING = H.DASHBOARDS / "provisioning"


def link(hub_ns, host_ns, subnet):
    """A veth pair between the hub and a host namespace: hub SUBNET.1/24, host SUBNET.2/24."""
    tag = os.urandom(3).hex()
    hub_if, host_if = f"cwfh{tag}", f"cwfx{tag}"
    run = lambda *a: subprocess.run(["ip", *a], check=True, capture_output=True, timeout=20)  # noqa: E731
    run("link", "add", hub_if, "netns", hub_ns, "type", "veth", "peer", "name", host_if,
        "netns", host_ns)
    for ns, iface, ip in ((hub_ns, hub_if, f"{subnet}.1"), (host_ns, host_if, f"{subnet}.2")):
        run("-n", ns, "addr", "add", f"{ip}/24", "dev", iface)
        run("-n", ns, "link", "set", iface, "up")


class Webhook:
    """Alertmanager's webhook receiver: an HTTP server whose socket lives in the hub namespace
    (its thread enters it with setns(2); the rest of the test stays where it is). Keeps every
    alert of every notification."""

    def __init__(self, ns, port):
        self.alerts, self.lock, self.error = [], threading.Lock(), None
        ready = threading.Event()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with owner.lock:
                    for alert in json.loads(body).get("alerts", []):
                        owner.alerts.append({**alert, "receiver": self.path.strip("/")})
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        def serve():
            try:
                libc = ctypes.CDLL(None, use_errno=True)
                fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
                try:
                    if libc.setns(fd, CLONE_NEWNET) != 0:
                        raise OSError(ctypes.get_errno(), "setns")
                finally:
                    os.close(fd)
                self.server = http.server.HTTPServer(("127.0.0.1", port), Handler)
            except OSError as e:
                self.error = e
                ready.set()
                return
            ready.set()
            self.server.serve_forever(poll_interval=0.2)

        self.thread = threading.Thread(target=serve, daemon=True)
        self.thread.start()
        ready.wait(10)
        if self.error:
            raise self.error

    def received(self, alertname, status="firing"):
        with self.lock:
            return [a for a in self.alerts
                    if a["labels"].get("alertname") == alertname and a["status"] == status]

    def close(self):
        if hasattr(self, "server"):
            self.server.shutdown()
            self.server.server_close()


class Host:
    """One fleet host: a lab (client ns = the host), its agent and its agent-mode Prometheus."""

    def __init__(self, name, hub_ns, workdir):
        self.name = name
        self.instance = f"host-{name}:{H.AGENT_PORT}"
        self.lab = L = lab.Lab().__enter__()
        link(hub_ns, L.client_ns, HOSTS[name])
        H.start_lab_services(L)
        self.agent = AgentProcess(H.agent_config(L.server_ip), port=H.AGENT_PORT,
                                  netns=L.client_ns).wait_healthy()
        # The shipped host-side example, pointed at this lab: its agent, the hub, 1 s intervals.
        config = yaml.safe_load((PROVISIONING / "prometheus-agent.yml").read_text())
        config["global"]["scrape_interval"] = "1s"
        config["global"]["external_labels"] = {"cluster": "lab"}
        [target] = config["scrape_configs"][0]["static_configs"]
        target["targets"] = [f"127.0.0.1:{H.AGENT_PORT}"]
        target["labels"]["instance"] = self.instance
        config["remote_write"] = [{
            "url": f"http://{HOSTS[name]}.1:{CENTRAL}/api/v1/write",
            "queue_config": {"batch_send_deadline": "1s", "min_backoff": "100ms",
                             "max_backoff": "1s"}}]
        self.prometheus = H.prometheus_server(L, workdir, yaml.safe_dump(config),
                                              port=AGENT_PROMETHEUS, agent=True)

    def close(self):
        if hasattr(self, "agent"):
            self.agent.close()
        self.lab.close()


class Fleet(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.started = time.monotonic()
        cls.workdir = Path(tempfile.mkdtemp(prefix="connwatch-fleet-"))
        cls.hosts = {}
        cls.hub = lab.Lab().__enter__()  # its client namespace is the central site
        try:
            cls._start()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def _start(cls):
        hub, ns, d = cls.hub, cls.hub.client_ns, cls.workdir
        gen = H.generator()
        cls.runbook_base = gen.RUNBOOK_BASE
        rules = d / "rules.yml"
        rules.write_text(gen.rules_yaml(for_overrides={"*": FOR}))
        cls.webhook = Webhook(ns, WEBHOOK)
        # The shipped routing, every receiver a webhook to this test that names the receiver.
        am = yaml.safe_load((PROVISIONING / "alertmanager.yml").read_text())
        am["route"].update(group_wait="1s", group_interval="1s", repeat_interval="1h")
        am["receivers"] = [
            {"name": r["name"],
             "webhook_configs": [{"url": f"http://127.0.0.1:{WEBHOOK}/{r['name']}"}]}
            for r in am["receivers"]]
        (d / "alertmanager.yml").write_text(yaml.safe_dump(am))
        cls.alertmanager = H.Service(
            hub, "alertmanager",
            ["prometheus-alertmanager", f"--config.file={d / 'alertmanager.yml'}",
             f"--storage.path={d / 'alertmanager-data'}",
             f"--web.listen-address=127.0.0.1:{ALERTMANAGER}", "--cluster.listen-address="],
            f"http://127.0.0.1:{ALERTMANAGER}", d)
        cls.pushgateway = H.Service(
            hub, "pushgateway",
            ["prometheus-pushgateway", f"--web.listen-address=0.0.0.0:{PUSHGATEWAY}"],
            f"http://127.0.0.1:{PUSHGATEWAY}", d)
        # The shipped central example with this test's rules, Alertmanager and Pushgateway.
        central = yaml.safe_load((PROVISIONING / "prometheus-central.yml").read_text())
        central["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
        central["rule_files"] = [str(rules)]
        central["alerting"]["alertmanagers"][0]["static_configs"] = [
            {"targets": [f"127.0.0.1:{ALERTMANAGER}"]}]
        [pushgateway] = central["scrape_configs"]
        pushgateway["static_configs"] = [{"targets": [f"127.0.0.1:{PUSHGATEWAY}"]}]
        cls.central = H.prometheus_server(hub, d, yaml.safe_dump(central), port=CENTRAL,
                                          host="0.0.0.0",
                                          extra=["--web.enable-remote-write-receiver"])
        for name in HOSTS:
            cls.hosts[name] = Host(name, hub.client_ns, d)

    @classmethod
    def tearDownClass(cls):
        for host in cls.hosts.values():
            host.close()
        if hasattr(cls, "webhook"):
            cls.webhook.close()
        cls.hub.close()
        for service in ("central", "alertmanager", "pushgateway"):
            if hasattr(cls, service):
                getattr(cls, service).close()
        shutil.rmtree(cls.workdir, ignore_errors=True)
        print(f"fleet test wall time: {time.monotonic() - cls.started:.0f} s", flush=True)

    def wait_for(self, what, predicate, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.5)
        self.fail(f"{what} within {timeout}s; central alerts: {self.central.api('alerts')}")

    def instances(self, expr):
        return {r["metric"].get("instance") for r in self.central.query(expr)}

    def test_fleet(self):
        a, b = self.hosts["a"], self.hosts["b"]
        both = {a.instance, b.instance}
        # Both hosts' series reach the central store through remote write.
        self.wait_for("both agents in the central Prometheus",
                      lambda: self.instances('up{job="connwatch"} == 1') == both, 30)
        for host in (a, b):
            host.lab.churn(200, H.OK)  # client-first closes: TIME_WAIT and handshakes

        self.check_a_diagnose_run_reaches_prometheus(a)

        # Quiet history for the spike's baseline; then the storm on host A only.
        self.wait_for("reset rates recorded for both hosts",
                      lambda: self.instances("instance:connwatch_tcp_resets:rate1m") == both, 60)
        time.sleep(15)
        self.assertEqual(self.central.alerts("ConnwatchResetRateSpike"), [])
        seen, sent, fired = set(), 0, None
        storm_end = time.monotonic() + 90
        while fired is None and time.monotonic() < storm_end:
            sent += a.lab.resets(100, H.ABORT)["reset"]
            for alert in self.central.alerts("ConnwatchResetRateSpike"):
                seen.add(alert["labels"]["instance"])
                if alert["state"] == "firing" and alert["labels"]["instance"] == a.instance:
                    fired = alert
        self.assertIsNotNone(fired, f"ConnwatchResetRateSpike never fired after {sent} resets: "
                             f"{self.central.api('alerts')}")
        self.assertEqual(seen, {a.instance}, "the spike alert must fire for the stormed host only")
        self.assertEqual(fired["labels"]["severity"], "warning")

        # Alertmanager delivers it, with a runbook link that works from any notification.
        delivered = self.wait_for(
            "the spike alert at the webhook",
            lambda: self.webhook.received("ConnwatchResetRateSpike"), 30)
        self.assertEqual({x["labels"]["instance"] for x in delivered}, {a.instance})
        self.assertEqual({x["receiver"] for x in delivered}, {"chat"})  # severity warning
        self.assertEqual(delivered[0]["labels"]["cluster"], "lab")  # the host's external label
        annotations = delivered[0]["annotations"]
        self.assertEqual(annotations["runbook_url"], self.runbook_base + "#reset-rate-spike")
        self.assertEqual(annotations["summary"], f"TCP resets on {a.instance} spiked")
        self.assertRegex(annotations["description"], rf"^{a.instance} sees \d+\.\d resets/s")

        self.check_every_panel_has_data_for_both(a, b)

        # A dead agent pages, for its own host only.
        b.agent.proc.kill()
        b.agent.proc.wait()
        down = self.wait_for(
            "ConnwatchAgentDown for host B",
            lambda: [x for x in self.central.alerts("ConnwatchAgentDown", "firing")], 40)
        self.assertEqual({x["labels"]["instance"] for x in down}, {b.instance})
        self.assertEqual(down[0]["labels"]["severity"], "critical")
        # (The absent() half may have paged once at start-up, while the central store held no
        # connwatch series yet: those notifications carry no instance.)
        delivered = self.wait_for(
            "ConnwatchAgentDown at the webhook",
            lambda: [x for x in self.webhook.received("ConnwatchAgentDown")
                     if "instance" in x["labels"]], 30)
        self.assertEqual({x["labels"]["instance"] for x in delivered}, {b.instance})
        self.assertEqual({x["receiver"] for x in delivered}, {"pager"})  # severity critical
        self.assertEqual(delivered[0]["annotations"]["runbook_url"],
                         self.runbook_base + "#agent-down")
        # Through the whole run, host B's spike never fired nor reached anyone.
        self.assertEqual({x["labels"]["instance"]
                          for x in self.webhook.received("ConnwatchResetRateSpike")}, {a.instance})
        self.assertEqual([x for x in self.central.alerts("ConnwatchResetRateSpike")
                          if x["labels"]["instance"] != a.instance], [])

    def check_a_diagnose_run_reaches_prometheus(self, host):
        """`agent --diagnose` against a refused port, pushed to the hub's Pushgateway and written
        as a textfile: the central Prometheus scrapes the finding; the file holds the same."""
        L = host.lab
        textfile = Path(L.workdir) / "textfile" / "connwatch.prom"
        textfile.parent.mkdir()
        # Scoped to the host's own namespace: other namespaces on a shared machine (another
        # test's churner) would add their findings to the run.
        run = L.client([AGENT, "--diagnose", "--duration", "3", "--netns", L.client_ns,
                        "--target", f"tcp://{L.server_ip}:{H.REFUSED}",
                        "--push-gateway", f"http://{HOSTS[host.name]}.1:{PUSHGATEWAY}",
                        "--textfile", str(textfile)],
                       capture_output=True, text=True, timeout=60)
        self.assertEqual(run.returncode, 1, run.stdout + run.stderr)  # a warning finding
        self.assertIn("connection-refused", run.stdout)
        self.assertEqual(os.listdir(textfile.parent), ["connwatch.prom"])  # no temporary left
        samples = parse_metrics(textfile.read_text())
        findings = {dict(labels)["id"]: (dict(labels)["severity"], value)
                    for (name, labels), value in samples.items()
                    if name == "connwatch_diagnose_finding"}
        self.assertIn("connection-refused", findings)
        self.assertEqual(findings["connection-refused"][1], 1)

        hostname = os.uname().nodename
        expr = (f'connwatch_diagnose_finding{{job="connwatch_diagnose", instance="{hostname}",'
                f' id="connection-refused"}}')
        result = self.wait_for("the pushed finding in the central Prometheus",
                               lambda: self.central.query(expr), 20)
        self.assertEqual(result[0]["metric"]["severity"], findings["connection-refused"][0])
        self.assertEqual(result[0]["value"][1], "1")
        pushed = {r["metric"]["id"] for r in self.central.query(
            f'connwatch_diagnose_finding{{job="connwatch_diagnose", instance="{hostname}"}}')}
        self.assertEqual(pushed, set(findings))
        duration = self.central.query(
            f'connwatch_diagnose_duration_seconds{{instance="{hostname}"}}')
        self.assertAlmostEqual(float(duration[0]["value"][1]), 3, delta=1)
        # The run's passive families: the refused connects' resets, measured over the run.
        resets = self.central.query(
            f'sum(connwatch_tcp_resets_total{{job="connwatch_diagnose", instance="{hostname}",'
            f' phase="handshake", sender="server"}})')
        self.assertGreaterEqual(float(resets[0]["value"][1]), 2)
        self.assertTrue(self.central.query(
            f'connwatch_sockets{{job="connwatch_diagnose", instance="{hostname}"}}'))

    def check_every_panel_has_data_for_both(self, a, b):
        skipped = []
        metrics_text = a.agent.metrics_text()
        empty = H.empty_panels(self.central, a.instance, metrics_text, skipped)
        empty += H.empty_panels(self.central, b.instance, metrics_text, skipped)
        if skipped:
            print("skipped until the agent exposes their families:\n  "
                  + "\n  ".join(sorted(set(skipped))), flush=True)
        self.assertEqual(empty, [], "panels without data:\n" + "\n".join(empty))


if __name__ == "__main__":
    lab.skip_unless_available("iptables")
    for tool, package in (("prometheus", "prometheus"),
                          ("prometheus-alertmanager", "prometheus-alertmanager"),
                          ("prometheus-pushgateway", "prometheus-pushgateway")):
        if shutil.which(tool) is None:
            skip(f"`{tool}` is not installed (Debian package {package}; scripts/install-deps.sh)")
    unittest.main(verbosity=2)
