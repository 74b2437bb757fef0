#!/usr/bin/env python3
"""The shipped rules pass `promtool check rules` and their unit tests and follow the
monitoring-mixins conventions; the dashboards, rules and Kubernetes objects are what generate.py
makes, and every panel is usable: the ${datasource} variable, a description, a unit, queries
filtered by the dashboard's variables, links that keep time and variables; the provisioning
examples load."""
import json
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

import yaml

from prom_harness import generator
from support import SOURCE_DIR, skip

DASHBOARDS = Path(SOURCE_DIR) / "dashboards"
RULES = DASHBOARDS / "rules" / "connwatch.rules.yml"
RUNBOOK = DASHBOARDS / "RUNBOOK.md"
KUBERNETES = DASHBOARDS / "kubernetes"


def promtool(*args):
    return subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=60)


def panels(dashboard):
    return [p for p in dashboard["panels"] if p["type"] != "row"]


def load(name):
    return json.loads((DASHBOARDS / "grafana" / name).read_text())


def anchors(markdown):
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes."""
    out = set()
    for line in markdown.splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            out.add(re.sub(r"\s", "-", re.sub(r"[^\w\s-]", "", title)))
    return out


class Rules(unittest.TestCase):
    def test_promtool_check_rules(self):
        proc = promtool("check", "rules", str(RULES))
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertIn("SUCCESS", proc.stdout)

    def test_promtool_unit_tests_pass(self):
        proc = promtool("test", "rules", str(DASHBOARDS / "rules" / "connwatch.rules.test.yml"))
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)

    def test_every_alert_has_annotations_and_a_unit_test_and_its_runbook_section_exists(self):
        rules = yaml.safe_load(RULES.read_text())
        tests = (DASHBOARDS / "rules" / "connwatch.rules.test.yml").read_text()
        sections = anchors(RUNBOOK.read_text())
        alerts = [r for g in rules["groups"] for r in g["rules"] if "alert" in r]
        names = {a["alert"] for a in alerts}
        for required in ("ConnwatchResetRateSpike", "ConnwatchResetRatioHigh",
                         "ConnwatchStalePooledConnections", "ConnwatchEphemeralPortsHigh",
                         "ConnwatchEphemeralPortsCritical", "ConnwatchFileDescriptorsHigh",
                         "ConnwatchProbeFailing", "ConnwatchProbeRetriesExhausted",
                         "ConnwatchCaptureDown", "ConnwatchCaptureDropping",
                         "ConnwatchAgentDown", "ConnwatchRetransmissionsHigh"):
            self.assertIn(required, names)
        base = generator().RUNBOOK_BASE
        for a in alerts:
            with self.subTest(alert=a["alert"]):
                ann = a["annotations"]
                self.assertEqual(set(ann), {"summary", "description", "runbook_url"})
                self.assertIn("$labels.instance", ann["description"])
                # Monitoring-mixins style: the summary stays the same while the alert fires (it
                # titles the notification and groups it); the description quotes the value,
                # except for state alerts (== 0) whose value says nothing more.
                self.assertNotIn("$value", ann["summary"])
                if "== 0" not in a["expr"]:
                    self.assertIn("$value", ann["description"])
                self.assertIn(a["labels"]["severity"], ("warning", "critical"))
                self.assertTrue(ann["runbook_url"].startswith(base + "#"), ann["runbook_url"])
                self.assertRegex(ann["runbook_url"], r"^https://")
                self.assertIn(ann["runbook_url"].split("#", 1)[1], sections)
                self.assertIn(f"alertname: {a['alert']}\n", tests)

    def test_every_selector_on_a_scraped_metric_is_the_generators_job_selector(self):
        """Changing the one job selector moves every rule that reads raw series, and the
        runbook base moves every runbook_url."""
        gen = generator()
        groups = gen.rule_groups(runbook_base="https://wiki.example/connwatch",
                                 job_selector='job="edge-connwatch"')
        rules = [r for g in groups for r in g["rules"]]
        raw = re.compile(r"\b(connwatch_[a-z_]+|up)\{([^}]*)\}")
        for r in rules:
            for metric, matchers in raw.findall(r["expr"]):
                self.assertTrue(matchers.startswith('job="edge-connwatch"'), (metric, r["expr"]))
            self.assertNotIn("connwatch-fleet", r["expr"])
            if "alert" in r:
                self.assertRegex(r["annotations"]["runbook_url"],
                                 r"^https://wiki\.example/connwatch#[a-z-]+$")
        down = [r for r in rules if r.get("alert") == "ConnwatchAgentDown"][0]
        self.assertIn('absent(up{job="edge-connwatch"})', down["expr"])
        self.assertIn('up{job="edge-connwatch"} == 0', down["expr"])

    def test_for_overrides_shorten_only_the_generated_copy(self):
        gen = generator()
        short = [r for g in gen.rule_groups(for_overrides={"*": "5s"}) for r in g["rules"]]
        self.assertTrue(all(r["for"] == "5s" for r in short if "alert" in r))
        shipped = yaml.safe_load(RULES.read_text())
        spike = [r for g in shipped["groups"] for r in g["rules"]
                 if r.get("alert") == "ConnwatchResetRateSpike"][0]
        self.assertEqual(spike["for"], "1m")

    def run_tests_on_mutated_rules(self, old, new):
        """promtool test rules on a copy of the rules with `old` replaced by `new`."""
        with tempfile.TemporaryDirectory() as d:
            for f in (DASHBOARDS / "rules").iterdir():
                shutil.copy(f, d)
            broken = Path(d) / "connwatch.rules.yml"
            text = broken.read_text()
            self.assertIn(old, text)
            broken.write_text(text.replace(old, new))
            return promtool("test", "rules", str(Path(d) / "connwatch.rules.test.yml"))

    def test_a_broken_threshold_fails_the_unit_tests(self):
        """The rule tests can fail: raise one threshold and promtool must notice."""
        before = f'connwatch_probe_success{{{generator().JOB_SELECTOR}}} == 0'
        proc = self.run_tests_on_mutated_rules(before, before.replace("== 0", "== 2"))
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("ConnwatchProbeFailing", proc.stdout + proc.stderr)

    def test_agent_down_without_absent_fails_the_unit_tests(self):
        """The absent() half is tested: drop it and the 'no agent at all' case fails."""
        absent = f"absent(up{{{generator().JOB_SELECTOR}}})"
        proc = self.run_tests_on_mutated_rules(absent, absent + " unless on() vector(1)")
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("ConnwatchAgentDown", proc.stdout + proc.stderr)


class Dashboards(unittest.TestCase):
    NAMES = {"resets.json": "connwatch / Resets", "sockets.json": "connwatch / Sockets",
             "probes.json": "connwatch / Probes"}

    def test_committed_files_are_what_generate_py_makes(self):
        proc = subprocess.run([sys.executable, str(DASHBOARDS / "generate.py"), "--check"],
                              capture_output=True, text=True, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)

    def test_titles_and_variables(self):
        for name, title in self.NAMES.items():
            d = load(name)
            self.assertEqual(d["title"], title)
            variables = {v["name"]: v for v in d["templating"]["list"]}
            self.assertEqual(variables["datasource"]["type"], "datasource")
            self.assertEqual(variables["datasource"]["query"], "prometheus")
            self.assertIn("instance", variables)
            self.assertIn("job", variables)
            self.assertIn("$job", variables["instance"]["definition"])
            if name == "probes.json":
                self.assertIn("target", variables)
            if name == "sockets.json":
                # "All" must match series without the label (an agent reading one namespace).
                self.assertEqual(variables["netns"]["allValue"], ".*")
            for link in d["links"]:
                self.assertTrue(link["keepTime"] and link["includeVars"], link)
                self.assertIn("connwatch", link["tags"])

    def test_every_panel_is_usable(self):
        for name in self.NAMES:
            d = load(name)
            ids = [p["id"] for p in d["panels"]]
            self.assertEqual(len(ids), len(set(ids)), name)
            for p in panels(d):
                with self.subTest(dashboard=name, panel=p["title"]):
                    self.assertEqual(p["datasource"]["uid"], "${datasource}")
                    self.assertGreater(len(p["description"]), 30)
                    self.assertTrue(p["fieldConfig"]["defaults"]["unit"])
                    self.assertTrue(p["targets"])
                    for t in p["targets"]:
                        self.assertEqual(t["datasource"]["uid"], "${datasource}")
                        self.assertIn('instance=~"$instance"', t["expr"])
                        self.assertIn('job=~"$job"', t["expr"])
                        if name == "sockets.json" and "connwatch_sockets" in t["expr"]:
                            self.assertIn('netns=~"$netns"', t["expr"])
                        if name == "probes.json":
                            self.assertIn('target=~"$target"', t["expr"])
                        self.assertEqual(t["expr"].count("("), t["expr"].count(")"))

    def test_the_panels_the_issue_names_are_there(self):
        titles = {name: {p["title"] for p in panels(load(name))} for name in self.NAMES}
        self.assertIn("Reset rate by sender and phase", titles["resets.json"])
        self.assertIn("Resets per new connection", titles["resets.json"])
        self.assertIn("Top peers by resets", titles["resets.json"])
        self.assertIn("Ephemeral port utilization by destination", titles["sockets.json"])
        self.assertIn("Conntrack table", titles["sockets.json"])
        self.assertIn("Stale pooled connections", titles["probes.json"])
        self.assertIn("Server idle close time", titles["probes.json"])
        kinds = {p["type"] for p in panels(load("probes.json"))}
        self.assertIn("heatmap", kinds)
        self.assertIn("Retransmission ratio by destination", titles["sockets.json"])
        self.assertIn("RTT by destination", titles["sockets.json"])
        self.assertIn("Sockets by namespace", titles["sockets.json"])
        rows = [p["title"] for p in load("sockets.json")["panels"] if p["type"] == "row"]
        self.assertIn("Network quality", rows)
        self.assertIn("Network namespaces", rows)


class Kubernetes(unittest.TestCase):
    """The PrometheusRule and the dashboards' ConfigMaps carry exactly the shipped rules and
    JSON (kubectl is not here: the objects are checked as the API server and the Operator /
    Grafana sidecar read them)."""

    def docs(self, name):
        return [d for d in yaml.safe_load_all((KUBERNETES / name).read_text()) if d]

    def test_prometheus_rule_is_the_shipped_rules(self):
        [rule] = self.docs("connwatch-prometheusrule.yaml")
        self.assertEqual(rule["apiVersion"], "monitoring.coreos.com/v1")
        self.assertEqual(rule["kind"], "PrometheusRule")
        self.assertRegex(rule["metadata"]["name"], r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
        self.assertTrue(rule["metadata"]["namespace"])
        self.assertEqual(rule["spec"], yaml.safe_load(RULES.read_text()))
        # The groups as promtool reads them: valid rules once unwrapped.
        with tempfile.TemporaryDirectory() as d:
            unwrapped = Path(d) / "rules.yml"
            unwrapped.write_text(yaml.safe_dump(rule["spec"]))
            proc = promtool("check", "rules", str(unwrapped))
            self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)

    def test_dashboard_config_maps_carry_the_json_for_the_sidecar(self):
        maps = self.docs("connwatch-dashboards.yaml")
        self.assertEqual(len(maps), len(Dashboards.NAMES))
        seen = {}
        for m in maps:
            with self.subTest(configmap=m["metadata"]["name"]):
                self.assertEqual((m["apiVersion"], m["kind"]), ("v1", "ConfigMap"))
                self.assertEqual(m["metadata"]["labels"]["grafana_dashboard"], "1")
                self.assertRegex(m["metadata"]["name"], r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
                self.assertLessEqual(len(m["metadata"]["name"]), 63)
                [(key, text)] = m["data"].items()
                self.assertRegex(key, r"^[-._a-zA-Z0-9]+\.json$")
                self.assertLess(len(text.encode()), 1024 * 1024)  # a ConfigMap's size limit
                seen[json.loads(text)["uid"]] = json.loads(text)
        for name in Dashboards.NAMES:
            d = load(name)
            self.assertEqual(seen[d["uid"]], d)


class Provisioning(unittest.TestCase):
    def test_prometheus_config_loads_with_the_rules(self):
        text = (DASHBOARDS / "provisioning" / "prometheus.yml").read_text()
        with tempfile.TemporaryDirectory() as d:
            config = Path(d) / "prometheus.yml"
            config.write_text(text.replace("/etc/prometheus/rules/connwatch.rules.yml",
                                           str(RULES)))
            proc = promtool("check", "config", str(config))
            self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertIn("file_sd_configs", text)
        self.assertIn("static_configs", text)

    def test_fleet_examples_load(self):
        """The fleet layout of docs/DEPLOY.md (the fleet test runs these same files)."""
        prov = DASHBOARDS / "provisioning"
        proc = promtool("check", "config", "--agent", str(prov / "prometheus-agent.yml"))
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        text = (prov / "prometheus-central.yml").read_text()
        with tempfile.TemporaryDirectory() as d:
            config = Path(d) / "prometheus.yml"
            config.write_text(text.replace("/etc/prometheus/rules/connwatch.rules.yml",
                                           str(RULES)))
            proc = promtool("check", "config", str(config))
            self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertIn("honor_labels: true", text)
        if shutil.which("amtool"):
            proc = subprocess.run(["amtool", "check-config", str(prov / "alertmanager.yml")],
                                  capture_output=True, text=True, timeout=60)
            self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        am = yaml.safe_load((prov / "alertmanager.yml").read_text())
        self.assertIn('severity="critical"', am["route"]["routes"][0]["matchers"])

    def test_file_sd_and_grafana_provisioning_parse(self):
        groups = json.loads((DASHBOARDS / "provisioning" / "file_sd.json").read_text())
        self.assertTrue(all(g["targets"] for g in groups))
        ds = yaml.safe_load((DASHBOARDS / "provisioning" / "grafana-datasource.yml").read_text())
        self.assertEqual(ds["datasources"][0]["type"], "prometheus")
        dash = yaml.safe_load((DASHBOARDS / "provisioning" / "grafana-dashboards.yml").read_text())
        self.assertEqual(dash["providers"][0]["type"], "file")


if __name__ == "__main__":
    if shutil.which("promtool") is None:
        skip("promtool is not installed (Debian package prometheus; scripts/install-deps.sh)")
    unittest.main(verbosity=2)
