#!/usr/bin/env python3
"""The shipped rules pass `promtool check rules` and their unit tests; the dashboards are what
generate.py makes, and every panel is usable: the ${datasource} variable, a description, a
unit, queries filtered by the dashboard's variables; the provisioning examples load."""
import json
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

import yaml

from support import SOURCE_DIR, skip

DASHBOARDS = Path(SOURCE_DIR) / "dashboards"
RULES = DASHBOARDS / "rules" / "connwatch.rules.yml"
RUNBOOK = DASHBOARDS / "RUNBOOK.md"


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
                         "ConnwatchCaptureDown", "ConnwatchCaptureDropping"):
            self.assertIn(required, names)
        for a in alerts:
            with self.subTest(alert=a["alert"]):
                ann = a["annotations"]
                self.assertTrue(ann["summary"] and ann["description"])
                self.assertIn("$labels.instance", ann["description"])
                # Threshold alerts quote the value; state alerts (== 0) have none worth quoting.
                if not a["expr"].strip().endswith("== 0"):
                    self.assertIn("$value", ann["summary"] + ann["description"])
                self.assertIn(a["labels"]["severity"], ("warning", "critical"))
                self.assertRegex(ann["runbook"], r"^dashboards/RUNBOOK\.md#")
                self.assertIn(ann["runbook"].split("#", 1)[1], sections)
                self.assertIn(f"alertname: {a['alert']}\n", tests)

    def test_a_broken_threshold_fails_the_unit_tests(self):
        """The rule tests can fail: raise one threshold and promtool must notice."""
        with tempfile.TemporaryDirectory() as d:
            for f in (DASHBOARDS / "rules").iterdir():
                shutil.copy(f, d)
            broken = Path(d) / "connwatch.rules.yml"
            text = broken.read_text().replace("connwatch_probe_success == 0",
                                              "connwatch_probe_success == 2")
            broken.write_text(text)
            proc = promtool("test", "rules", str(Path(d) / "connwatch.rules.test.yml"))
            self.assertNotEqual(proc.returncode, 0)
            self.assertIn("ConnwatchProbeFailing", proc.stdout + proc.stderr)


class Dashboards(unittest.TestCase):
    NAMES = {"resets.json": "connwatch / Resets", "sockets.json": "connwatch / Sockets",
             "probes.json": "connwatch / Probes"}

    def test_committed_json_is_what_generate_py_makes(self):
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
            if name == "probes.json":
                self.assertIn("target", variables)

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
