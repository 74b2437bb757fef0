#!/usr/bin/env python3
"""docs/REFERENCE.md cannot drift from the code: its tables are compared with what the agent
prints (--help), reads (config/examples/full.toml, --check-config), exposes (/metrics of a
running agent) and registers (the metric names in the source), and with the diagnose report
schema. A family another module adds later fails here until its row is added: one row."""
import json
import re
import tempfile
import time
import tomllib
import unittest
from pathlib import Path

from support import SOURCE_DIR, AgentProcess, free_port, run_agent

REFERENCE = Path(SOURCE_DIR) / "docs" / "REFERENCE.md"
# Where metric families are registered: every C++ source outside the tests.
CODE_DIRS = ("agent", "probes", "exporters", "config")


def section(title):
    """The text of one `## title` section."""
    text = REFERENCE.read_text()
    m = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert m, f"no section {title!r} in {REFERENCE}"
    return m.group(1)


def table(title, header_start):
    """Rows (lists of cells) of the table in `title` whose header starts with `header_start`."""
    rows, inside = [], False
    for line in section(title).splitlines():
        if line.startswith(f"| {header_start} |"):
            inside = True
            continue
        if inside:
            if not line.startswith("|"):
                break
            if re.fullmatch(r"\|(-+\|)+", line):
                continue
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    assert rows, f"no table starting with {header_start!r} in {title!r}"
    return rows


def code(cell):
    """The `code` spans of a cell."""
    return re.findall(r"`([^`]+)`", cell)


def flatten(table_, prefix=""):
    out = {}
    for key, value in table_.items():
        if isinstance(value, dict) and value and prefix == "":
            out.update(flatten(value, f"{key}."))
        else:
            out[prefix + key] = value
    return out


class Links(unittest.TestCase):
    def test_readme_and_docs_link_only_files_in_the_repository(self):
        for doc in [Path(SOURCE_DIR) / "README.md", *sorted((Path(SOURCE_DIR) / "docs").glob("*.md"))]:
            for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", doc.read_text()):
                if re.match(r"[a-z]+://", target):
                    continue
                path = (doc.parent / target).resolve()
                with self.subTest(doc=doc.name, link=target):
                    self.assertTrue(path.exists(), f"{doc.name} links {target}: no such file")
                    self.assertTrue(path.is_relative_to(Path(SOURCE_DIR).resolve()),
                                    f"{doc.name} links {target}, outside the repository")


class CommandLine(unittest.TestCase):
    def test_every_flag_of_help_is_documented(self):
        help_text = run_agent("--help").stdout.split("\nUsage:\n")[0]  # the flags, not the footer
        flags = set(re.findall(r"(?<![\w-])(--[a-z][a-z.-]*|-h)\b", help_text))
        self.assertIn("--web.listen-address", flags)
        documented = set()
        for row in table("Command line", "flag"):
            for cell in row[:2]:
                documented |= {c.split()[0] for c in code(cell)}
        self.assertEqual(flags - documented, set(), "flags of --help missing in REFERENCE.md")
        self.assertEqual(documented - flags, set(), "documented flags the agent does not have")


class Configuration(unittest.TestCase):
    def test_every_key_of_full_toml_is_documented_with_its_default(self):
        full = flatten(tomllib.loads((Path(SOURCE_DIR) / "config/examples/full.toml").read_text()))
        documented = {}
        for key, default, _ in table("Configuration", "key"):
            (name,) = code(key)
            (literal,) = code(default)
            documented[name] = tomllib.loads(f"v = {literal}")["v"]
        self.assertEqual(set(full) - set(documented), set(), "keys missing in REFERENCE.md")
        self.assertEqual(set(documented) - set(full), set(), "documented keys not in full.toml")
        for key, value in full.items():
            self.assertEqual(documented[key], value, key)

    def test_every_documented_target_key_is_accepted(self):
        lines = ["[[target]]"]
        for key, default, _ in table("Configuration", "target key"):
            (name,) = code(key)
            value = {"name": '"t"', "url": '"http://127.0.0.1:9/"'}.get(name) or code(default)[0]
            lines.append(f"{name} = {value}")
        with tempfile.NamedTemporaryFile("w", suffix=".toml") as f:
            f.write("\n".join(lines) + "\n")
            f.flush()
            r = run_agent("--check-config", "--config.file", f.name)
        self.assertEqual(r.returncode, 0, r.stderr)


class Metrics(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.rows = {}
        for family, type_, labels, shown, meaning in table("Metrics", "family"):
            (name,) = code(family)
            cls.rows[name] = {"type": type_, "shown": shown}
        # A running agent with one target (its own health endpoint), capture and kernel on.
        port = free_port()
        config = (f'[[target]]\nname = "self"\nurl = "http://127.0.0.1:{port}/-/healthy"\n'
                  f'interval = "200ms"\n')
        # Series appear as their sources first report (a probe's HTTP status after its first
        # response, kernel tables after the first poll): scrape until every family documented as
        # "always" or "with targets" is there, or 30 s have passed.
        cls.expected = {n for n, r in cls.rows.items() if r["shown"] in ("always", "with targets")}
        cls.exposed = {}
        with AgentProcess(config, port=port) as agent:
            agent.wait_healthy(timeout=30)  # an ASan build on a busy machine starts slowly
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                text = agent.metrics_text()
                cls.exposed = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
                if cls.expected <= set(cls.exposed):
                    break
                time.sleep(0.2)

    def test_every_exposed_family_is_documented_with_its_type(self):
        self.assertIn("connwatch_probe_success", self.exposed)
        missing = set(self.exposed) - set(self.rows)
        self.assertEqual(missing, set(), "exposed families missing in REFERENCE.md (add a row)")
        for name, type_ in self.exposed.items():
            self.assertEqual(self.rows[name]["type"], type_, name)

    def test_families_documented_as_shown_always_or_with_targets_are_exposed(self):
        self.assertEqual(self.expected - set(self.exposed), set())

    def test_every_documented_family_is_registered_in_the_code(self):
        sources = "\n".join(p.read_text() for d in CODE_DIRS
                            for p in (Path(SOURCE_DIR) / d).rglob("*") if p.suffix in (".cpp", ".h"))
        gone = {name for name in self.rows if f'"{name}"' not in sources}
        self.assertEqual(gone, set(), "documented families no code registers")


class Findings(unittest.TestCase):
    def test_the_findings_table_lists_exactly_the_schema_ids(self):
        schema = json.loads((Path(SOURCE_DIR) / "agent/diagnose/report.schema.json").read_text())
        ids = set(schema["properties"]["findings"]["items"]["properties"]["id"]["enum"])
        documented = {code(row[0])[0] for row in table("Findings", "id")}
        self.assertEqual(documented, ids)


if __name__ == "__main__":
    unittest.main(verbosity=2)
