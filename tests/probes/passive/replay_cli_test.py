#!/usr/bin/env python3
"""`agent --replay` as a user runs it, against every fixture of pcaps/MANIFEST.

Skips (77) while the agent binary is missing or answers that --replay is "not yet available".
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

SOURCE = Path(os.environ.get("CONNWATCH_SOURCE_DIR", Path(__file__).resolve().parents[3]))
BINARY = Path(os.environ.get("CONNWATCH_BINARY_DIR", SOURCE / "build" / "default"))
AGENT = BINARY / "agent" / "agent"
PCAPS = SOURCE / "tests" / "probes" / "passive" / "pcaps"


def replay(path, fmt="json"):
    return subprocess.run([str(AGENT), "--replay", str(path), "--format", fmt],
                          capture_output=True, text=True, timeout=60)


def manifest():
    entries = []
    for line in (PCAPS / "MANIFEST").read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        name, filename, *pairs = line.split()
        expected = {k: int(v) for k, v in (p.split("=", 1) for p in pairs)}
        entries.append((name, filename, expected))
    return entries


def flatten(obj, prefix=""):
    out = {}
    for key, value in obj.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            out.update(flatten(value, path))
        else:
            out[path] = value
    return out


def skip_unless_wired():
    if not os.access(AGENT, os.X_OK):
        print(f"SKIP: {AGENT} not built", flush=True)
        sys.exit(77)
    probe = replay(PCAPS / "refused_eth.pcap")
    if "not yet available" in probe.stdout + probe.stderr:
        print("SKIP: agent --replay not wired yet", flush=True)
        sys.exit(77)


class ReplayCli(unittest.TestCase):
    def test_every_fixture_counts_what_the_manifest_says(self):
        for name, filename, expected in manifest():
            with self.subTest(fixture=name):
                result = replay(PCAPS / filename)
                self.assertEqual(result.returncode, 0, result.stderr)
                actual = flatten(json.loads(result.stdout))
                self.assertEqual(len(actual), 15, f"SPEC §2 shape: {result.stdout}")
                for key, count in actual.items():
                    self.assertEqual(count, expected.get(key, 0), f"{name}: {key}")

    def test_prometheus_output_is_the_passive_families_and_passes_promtool(self):
        result = replay(PCAPS / "rst_after_fin_eth.pcap", "prometheus")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn('connwatch_tcp_resets_total{phase="closing",port="443",sender="server"} 2',
                      result.stdout)
        self.assertIn("connwatch_capture_packets_total 13", result.stdout)
        promtool = shutil.which("promtool")
        if promtool:
            lint = subprocess.run([promtool, "check", "metrics"], input=result.stdout,
                                  capture_output=True, text=True, timeout=30)
            self.assertEqual(lint.returncode, 0, lint.stdout + lint.stderr)

    def test_text_output_summarizes_for_a_person(self):
        result = replay(PCAPS / "refused_eth.pcap", "text")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("resets: 3", result.stdout)

    def test_a_missing_file_exits_3_and_names_it(self):
        result = replay("/nonexistent/dir/capture.pcap")
        self.assertEqual(result.returncode, 3)
        self.assertIn("/nonexistent/dir/capture.pcap", result.stderr)

    def test_a_file_corrupted_part_way_prints_partial_counts_and_exits_3(self):
        data = (PCAPS / "client_close_eth.pcap").read_bytes()
        with tempfile.TemporaryDirectory() as tmp:
            cut = Path(tmp) / "cut.pcap"
            cut.write_bytes(data[:24 + 8 * 70 + 30])  # inside the ninth record
            result = replay(cut)
        self.assertEqual(result.returncode, 3)
        self.assertIn(str(cut), result.stderr)
        self.assertEqual(json.loads(result.stdout)["time_wait_entries"]["client"], 2)


if __name__ == "__main__":
    skip_unless_wired()
    unittest.main(verbosity=2)
