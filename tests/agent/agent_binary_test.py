"""The real agent binary as a user meets it: flags, exit codes, /metrics, signals, reload."""
import os
import signal
import socket
import subprocess
import sys
import time
import unittest

from support import AgentProcess, promtool, run_agent, sample, SOURCE_DIR

GOOD_CONFIG = """
[capture]
enabled = false

[sockets]
enabled = false

[[target]]
name = "api"
url = "http://127.0.0.1:1/healthz"
interval = "1h"
"""


class CommandLine(unittest.TestCase):
    def test_version_prints_version_and_revision(self):
        r = run_agent("--version")
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^connwatch agent \d+\.\d+\.\d+ \(revision \w+\)\n$")

    def test_help_lists_every_mode_and_exits_0(self):
        r = run_agent("--help")
        self.assertEqual(r.returncode, 0)
        for flag in ["--config", "--listen", "--log-level", "--diagnose", "--target", "--duration",
                     "--interface", "--format", "--replay", "--check-config", "--version"]:
            self.assertIn(flag, r.stdout)

    def test_unknown_flag_is_a_usage_error(self):
        r = run_agent("--bogus")
        self.assertEqual(r.returncode, 2)
        self.assertIn("--bogus", r.stderr)

    def test_diagnose_flags_without_diagnose_are_a_usage_error(self):
        r = run_agent("--target", "http://127.0.0.1/")
        self.assertEqual(r.returncode, 2)
        self.assertIn("go with --diagnose", r.stderr)

    def test_bad_listen_flag_is_a_usage_error(self):
        r = run_agent("--listen", "9873")
        self.assertEqual(r.returncode, 2)
        self.assertIn("--listen: bad listen address", r.stderr)

    def test_check_config_accepts_the_shipped_config(self):
        r = run_agent("--check-config", "--config", os.path.join(SOURCE_DIR, "config/agent.toml"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("agent.toml: OK (1 targets)", r.stdout)

    def test_check_config_names_file_line_column_and_key(self):
        path = os.path.join(SOURCE_DIR, "tests/config/invalid/unknown_key.toml")
        r = run_agent("--check-config", "--config", path)
        self.assertEqual(r.returncode, 2)
        self.assertEqual(r.stderr, f'{path}:2:1: agent.lisen: unknown key (did you mean "listen"?)\n')

    def test_missing_config_file_is_a_config_error(self):
        r = run_agent("--check-config", "--config", "/nonexistent/agent.toml")
        self.assertEqual(r.returncode, 2)
        self.assertIn("/nonexistent/agent.toml: cannot read config file", r.stderr)


class Serving(unittest.TestCase):
    def setUp(self):
        self.agent = AgentProcess(GOOD_CONFIG).wait_healthy()

    def tearDown(self):
        self.agent.close()

    def test_metrics_pass_promtool_check_metrics(self):
        text = self.agent.metrics_text()
        tool = promtool()
        self.assertIsNotNone(tool, "promtool (Debian package prometheus) is required")
        r = subprocess.run([tool, "check", "metrics"], input=text, capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_metrics_have_build_info_and_reload_status(self):
        m = self.agent.metrics()
        build = [k for k in m if k[0] == "connwatch_build_info"]
        self.assertEqual(len(build), 1)
        self.assertEqual(m[build[0]], 1)
        self.assertEqual({k for k, _ in build[0][1]}, {"version", "revision"})
        self.assertEqual(sample(m, "connwatch_config_last_reload_successful"), 1)
        self.assertGreater(sample(m, "connwatch_config_last_reload_success_timestamp_seconds"),
                           time.time() - 60)

    def test_metrics_content_type_is_prometheus_text(self):
        _, _, headers = self.agent.get("/metrics")
        self.assertEqual(headers["Content-Type"], "text/plain; version=0.0.4; charset=utf-8")

    def test_landing_page_links_metrics_and_lists_targets(self):
        status, body, headers = self.agent.get("/")
        self.assertEqual(status, 200)
        self.assertIn("text/html", headers["Content-Type"])
        self.assertIn('href="/metrics"', body)
        self.assertIn("api", body)
        self.assertIn("http://127.0.0.1:1/healthz", body)

    def test_healthy_endpoint(self):
        status, body, _ = self.agent.get("/-/healthy")
        self.assertEqual((status, body), (200, "Healthy\n"))

    def test_unknown_path_is_404(self):
        self.assertEqual(self.agent.get("/debug/pprof")[0], 404)

    def test_reload_needs_post(self):
        self.assertEqual(self.agent.get("/-/reload")[0], 405)

    def test_sigterm_exits_0_within_one_second(self):
        code, seconds = self.agent.stop(signal.SIGTERM)
        self.assertEqual(code, 0, self.agent.output())
        self.assertLess(seconds, 1.0)

    def test_sigint_exits_0_within_one_second(self):
        code, seconds = self.agent.stop(signal.SIGINT)
        self.assertEqual(code, 0, self.agent.output())
        self.assertLess(seconds, 1.0)

    def test_sigterm_with_a_scrape_connection_open_still_exits_promptly(self):
        with socket.create_connection(("127.0.0.1", self.agent.port)) as idle:
            idle.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            idle.recv(65536)
            code, seconds = self.agent.stop(signal.SIGTERM)
        self.assertEqual(code, 0)
        self.assertLess(seconds, 1.0)

    def test_bad_reload_over_http_keeps_serving_the_old_config(self):
        self.agent.write_config(GOOD_CONFIG + "\n[capture]\nsnaplen = 1\n")
        status, body, _ = self.agent.post("/-/reload")
        self.assertEqual(status, 500)
        self.assertIn("failed to reload config", body)
        self.assertIn("agent.toml", body)
        m = self.agent.metrics()
        self.assertEqual(sample(m, "connwatch_config_last_reload_successful"), 0)
        self.assertIn("http://127.0.0.1:1/healthz", self.agent.get("/")[1])
        self.assertIn("last reload failed", self.agent.get("/")[1])
        # Fixing the file and reloading again recovers.
        self.agent.write_config(GOOD_CONFIG.replace('"api"', '"api2"'))
        self.assertEqual(self.agent.post("/-/reload")[0], 200)
        self.assertEqual(sample(self.agent.metrics(), "connwatch_config_last_reload_successful"), 1)
        self.assertIn("api2", self.agent.get("/")[1])

    def test_bad_reload_by_sighup_keeps_serving_and_logs_the_error(self):
        self.agent.write_config("[agent]\nlog_level = \"loud\"\n")
        self.agent.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if sample(self.agent.metrics(), "connwatch_config_last_reload_successful") == 0:
                break
            time.sleep(0.05)
        self.assertEqual(sample(self.agent.metrics(), "connwatch_config_last_reload_successful"), 0)
        self.assertIn('agent.log_level: \\"loud\\" is not one of', self.agent.output())
        self.assertIsNone(self.agent.proc.poll())
        self.assertEqual(self.agent.get("/-/healthy")[0], 200)


class Startup(unittest.TestCase):
    def test_port_in_use_exits_3_with_a_clear_error(self):
        with socket.socket() as holder:
            holder.bind(("127.0.0.1", 0))
            holder.listen()
            port = holder.getsockname()[1]
            with AgentProcess(GOOD_CONFIG, port=port) as agent:
                code = agent.proc.wait(timeout=10)
                self.assertEqual(code, 3)
                self.assertIn(f"cannot listen on 127.0.0.1:{port}: Address already in use",
                              agent.output())

    def test_bad_config_exits_2_and_starts_nothing(self):
        with AgentProcess("[capture]\nsnaplen = 1\n") as agent:
            code = agent.proc.wait(timeout=10)
            self.assertEqual(code, 2)
            self.assertIn("agent.toml:2:11: capture.snaplen: must be between 64 and 65535, got 1",
                          agent.output())
            with self.assertRaises(OSError):
                socket.create_connection(("127.0.0.1", agent.port), timeout=1).close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
