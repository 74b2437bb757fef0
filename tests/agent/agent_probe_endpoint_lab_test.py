#!/usr/bin/env python3
"""/probe driven by a real Prometheus, side by side with blackbox_exporter (issue 20).

In the lab's client namespace: the agent with --probe.config.file, Debian's
prometheus-blackbox-exporter on the SAME module file, and a Prometheus server whose two jobs are
blackbox_exporter's README setup (static_configs + relabel_configs) pointed once at each. The
server namespace runs nginx: port UP answers 200, port FAIL answers 503, port REFUSED has no
listener. nginx logs every request with its connection serial number and the User-Agent, so the
connections each exporter opened are counted on the server side.

Checks: probe_success agrees between the two on every target at every scrape; connwatch ran all
its scrapes of a target on one connection (blackbox one per scrape), except where the server
closed it while idle (port IDLE_CLOSE: the idle watch retired it, the next scrape dialled anew
and succeeded); connwatch's
probe_failure_info names why (refused, http_status), which blackbox cannot. Then the answers to
bad requests (400), and a reload with a broken module file (500 naming file:line:column and key;
the running modules keep answering).

Needs root, network namespaces, nginx, prometheus and prometheus-blackbox-exporter; exits 77
without them. About 20 s."""
import collections
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse
from pathlib import Path

import lab
from support import AgentProcess, netns_http, skip

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dashboards"))
import prom_harness as H  # noqa: E402  (the Prometheus server helper of the dashboards tests)

UP, FAIL, REFUSED, IDLE_CLOSE, REDIRECT, RELATIVE = 8401, 8403, 8402, 8404, 8405, 8406
AGENT_PORT, BLACKBOX_PORT = 9873, 9115
SCRAPES = 8  # per target and exporter, at 1 s

MODULES = """modules:
  http_2xx:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      ip_protocol_fallback: false
  http_post:
    prober: http
    http:
      method: POST
      valid_status_codes: [200]
"""

BROKEN_MODULES = """modules:
  http_2xx:
    prober: http
    http:
      fail_if_ssl: true
"""


def scrape_job(name, exporter_port, targets):
    """blackbox_exporter's README configuration, with the exporter's address replaced."""
    listed = "\n".join(f"          - {t}" for t in targets)
    return f"""
  - job_name: {name}
    metrics_path: /probe
    params:
      module: [http_2xx]
    static_configs:
      - targets:
{listed}
    relabel_configs:
      - source_labels: [__address__]
        target_label: __param_target
      - source_labels: [__param_target]
        target_label: instance
      - target_label: __address__
        replacement: 127.0.0.1:{exporter_port}
"""


def start_nginx(L, workdir):
    """nginx in the server namespace: UP answers 200, FAIL 503; the access log has, per request,
    the port, nginx's connection serial number and the User-Agent."""
    prefix = Path(workdir) / "nginx"
    (prefix / "logs").mkdir(parents=True)
    (prefix / "tmp").mkdir()
    conf = prefix / "nginx.conf"
    conf.write_text(f"""daemon off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log;
events {{ worker_connections 1024; }}
http {{
    log_format probes '$server_port $connection "$http_user_agent"';
    access_log {prefix}/logs/access.log probes;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    keepalive_timeout 75s;
    keepalive_requests 100000;
    server {{ listen {UP}; location / {{ default_type text/plain; return 200 "ok\\n"; }} }}
    server {{ listen {FAIL}; location / {{ default_type text/plain; return 503 "down\\n"; }} }}
    server {{ listen {IDLE_CLOSE}; keepalive_timeout 300ms;
             location / {{ default_type text/plain; return 200 "ok\\n"; }} }}
    server {{ listen {REDIRECT}; location / {{ return 302 http://$server_addr:{UP}/; }} }}
    server {{ listen {RELATIVE}; absolute_redirect off;
             location = / {{ return 301 /final; }}
             location = /final {{ default_type text/plain; return 200 "final\\n"; }} }}
}}
""")
    L.popen_server(["nginx", "-p", str(prefix), "-c", str(conf)], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        ss = L.server(["ss", "-Hltn", f"sport = :{UP}"], capture_output=True, text=True)
        if ss.stdout.strip():
            return prefix / "logs" / "access.log"
        time.sleep(0.05)
    raise AssertionError("nginx did not start")


def connections_by_port(access_log, connwatch):
    """{port: (requests, distinct connections)} of connwatch's requests (User-Agent
    connwatch/VERSION), or with connwatch=False of everyone else's (blackbox_exporter's)."""
    requests, conns = collections.Counter(), collections.defaultdict(set)
    for line in Path(access_log).read_text().splitlines():
        port, serial, agent = line.split(" ", 2)
        if agent.strip('"').startswith("connwatch/") == connwatch:
            requests[int(port)] += 1
            conns[int(port)].add(serial)
    return {p: (requests[p], len(conns[p])) for p in requests}


class ProbeEndpointBesideBlackbox(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        lab.skip_unless_available("nginx", "prometheus", "curl")
        if not shutil.which("prometheus-blackbox-exporter"):
            skip("prometheus-blackbox-exporter is not installed (scripts/install-deps.sh)")
        cls.lab = L = lab.Lab().__enter__()
        try:
            cls._start(L)
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def _start(cls, L):
        cls.workdir = Path(tempfile.mkdtemp(prefix="connwatch-probe-endpoint-"))
        cls.modules = cls.workdir / "blackbox.yml"
        cls.modules.write_text(MODULES)
        cls.access_log = start_nginx(L, cls.workdir)
        cls.targets = {name: f"http://{L.server_ip}:{port}/"
                       for name, port in (("up", UP), ("fail", FAIL), ("refused", REFUSED),
                                          ("idle-close", IDLE_CLOSE), ("redirect", REDIRECT),
                                          ("relative", RELATIVE))}
        cls.agent = AgentProcess(
            "[capture]\nenabled = false\n[sockets]\nenabled = false\n",
            args=("--probe.config.file", str(cls.modules)), port=AGENT_PORT,
            netns=L.client_ns).wait_healthy()
        cls.blackbox_log = open(cls.workdir / "blackbox.log", "w")
        cls.blackbox = L.popen_client(
            ["prometheus-blackbox-exporter", f"--config.file={cls.modules}",
             f"--web.listen-address=127.0.0.1:{BLACKBOX_PORT}"],
            stdout=cls.blackbox_log, stderr=subprocess.STDOUT)
        targets = list(cls.targets.values())
        cls.started = time.monotonic()
        config = ("global:\n  scrape_interval: 1s\nscrape_configs:"
                  + scrape_job("connwatch", AGENT_PORT, targets)
                  + scrape_job("blackbox", BLACKBOX_PORT, targets))
        cls.prom = H.prometheus_server(L, cls.workdir, config)
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            counts = cls.prom.query(f"count_over_time(probe_success[1m]) >= {SCRAPES}")
            if len(counts) == 2 * len(targets):
                break
            time.sleep(0.5)
        cls.scrape_seconds = time.monotonic() - cls.started

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "prom", None):
            cls.prom.close()
        if getattr(cls, "agent", None):
            cls.agent.close()
        cls.lab.close()
        if getattr(cls, "blackbox_log", None):
            cls.blackbox_log.close()
        if getattr(cls, "workdir", None):
            shutil.rmtree(cls.workdir, ignore_errors=True)

    def series(self, expr):
        """{instance: value} of an instant query."""
        return {r["metric"]["instance"]: float(r["value"][1]) for r in self.prom.query(expr)}

    def test_a_probe_success_agrees_with_blackbox_on_every_target_at_every_scrape(self):
        scrapes = self.series('count_over_time(probe_success{job="connwatch"}[1m])')
        self.assertEqual(set(scrapes), set(self.targets.values()), self.agent.output())
        self.assertTrue(all(n >= SCRAPES for n in scrapes.values()), scrapes)
        expected = {self.targets["up"]: 1.0, self.targets["fail"]: 0.0,
                    self.targets["refused"]: 0.0, self.targets["idle-close"]: 1.0,
                    self.targets["redirect"]: 1.0, self.targets["relative"]: 1.0}
        for job in ("connwatch", "blackbox"):
            for fn in ("min_over_time", "max_over_time"):
                with self.subTest(job=job, fn=fn):
                    self.assertEqual(self.series(f'{fn}(probe_success{{job="{job}"}}[1m])'),
                                     expected)
        # Both answered with the same status code for the target that answers.
        for job in ("connwatch", "blackbox"):
            codes = self.series(f'probe_http_status_code{{job="{job}"}}')
            self.assertEqual(codes[self.targets["up"]], 200.0, job)
            self.assertEqual(codes[self.targets["fail"]], 503.0, job)
            self.assertEqual(codes[self.targets["refused"]], 0.0, job)
        print(f"{min(scrapes.values()):.0f}+ scrapes per target in {self.scrape_seconds:.1f} s")

    def test_a2_the_other_blackbox_families_agree_on_every_target(self):
        # Values blackbox_exporter computes from the response and the address: the same numbers
        # from both exporters (probe_ip_addr_hash is FNV-1a over the address's bytes).
        for name in ("probe_http_content_length", "probe_http_uncompressed_body_length",
                     "probe_http_redirects", "probe_ip_addr_hash", "probe_ip_protocol"):
            with self.subTest(family=name):
                connwatch = self.series(f'{name}{{job="connwatch"}}')
                self.assertEqual(set(connwatch), set(self.targets.values()), name)
                self.assertEqual(connwatch, self.series(f'{name}{{job="blackbox"}}'))
        # Redirects followed as blackbox's Go client follows them: to another port (whose pool
        # the "up" target shares) and to a relative Location.
        redirects = self.series('probe_http_redirects{job="connwatch"}')
        self.assertEqual(redirects[self.targets["redirect"]], 1.0)
        self.assertEqual(redirects[self.targets["relative"]], 1.0)
        self.assertEqual(redirects[self.targets["up"]], 0.0)
        codes = self.series('probe_http_status_code{job="connwatch"}')
        self.assertEqual(codes[self.targets["relative"]], 200.0)
        lengths = self.series('probe_http_content_length{job="connwatch"}')
        self.assertEqual(lengths[self.targets["up"]], 3.0)  # "ok\\n"
        self.assertEqual(lengths[self.targets["refused"]], 0.0)

    def test_b_connwatch_keeps_one_connection_per_target_over_the_scrapes(self):
        by_port = connections_by_port(self.access_log, connwatch=True)
        blackbox = connections_by_port(self.access_log, connwatch=False)
        print(f"server side, (requests, connections) by port: connwatch {by_port}, "
              f"blackbox_exporter {blackbox}")
        for port in (UP, FAIL):
            requests, connections = by_port.get(port, (0, 0))
            self.assertGreaterEqual(requests, SCRAPES, port)
            self.assertEqual(connections, 1, f"port {port}: {requests} requests")
            # blackbox_exporter dials for every scrape: what the pool saves.
            bb_requests, bb_connections = blackbox.get(port, (0, 0))
            self.assertGreaterEqual(bb_connections, SCRAPES - 1, port)
        reused = self.series('connwatch_probe_connection{job="connwatch",connection="reused"}')
        self.assertEqual(reused[self.targets["up"]], 1.0)
        self.assertEqual(reused[self.targets["refused"]], 0.0)

    def test_b2_the_idle_watch_retires_what_the_server_closed_between_scrapes(self):
        # nginx closes IDLE_CLOSE's idle connections after 300 ms, long before the next scrape:
        # the pool's idle watch saw each FIN, so every scrape dialled anew and none failed
        # (probe_success stayed 1 in test_a) or met a dead connection.
        requests, connections = connections_by_port(self.access_log, connwatch=True)[IDLE_CLOSE]
        self.assertGreaterEqual(requests, SCRAPES)
        self.assertEqual(connections, requests)
        reused = self.series('max_over_time(connwatch_probe_connection{job="connwatch",'
                             'connection="reused"}[1m])')
        self.assertEqual(reused[self.targets["idle-close"]], 0.0)

    def test_c_connwatch_names_why_a_probe_failed(self):
        failures = {r["metric"]["instance"]: r["metric"]["outcome"]
                    for r in self.prom.query('probe_failure_info{job="connwatch"} == 1')}
        self.assertEqual(failures, {self.targets["fail"]: "http_status",
                                    self.targets["refused"]: "refused"})
        self.assertEqual(self.prom.query('probe_failure_info{job="blackbox"}'), [])

    def get(self, query):
        return netns_http(self.lab.client_ns, "GET",
                          f"http://127.0.0.1:{AGENT_PORT}/probe?{query}")

    def test_d_bad_requests_are_400_with_the_reason(self):
        status, body, _ = self.get("module=http_2xx")
        self.assertEqual((status, body.strip()), (400, "Target parameter is missing"))
        status, body, _ = self.get("target=127.0.0.1:1&module=nope")
        self.assertEqual(status, 400)
        self.assertIn('Unknown module "nope"', body)
        # blackbox_exporter answers both the same way.
        status, _, _ = netns_http(self.lab.client_ns, "GET",
                                  f"http://127.0.0.1:{BLACKBOX_PORT}/probe?module=nope&target=x")
        self.assertEqual(status, 400)

    def test_d2_debug_true_tells_what_the_probe_did(self):
        # blackbox_exporter's ?debug=true: logs, the answer, the module, as text.
        target = urllib.parse.quote(self.targets["refused"], safe="")
        status, body, _ = self.get(f"module=http_2xx&target={target}&debug=true")
        self.assertEqual(status, 200, body)
        self.assertTrue(body.startswith("Logs for the probe:\n"), body)
        self.assertIn("outcome: refused after ", body)
        self.assertIn("Probe failed", body)
        self.assertIn("\n\n\nMetrics that would have been returned:\n", body)
        self.assertIn("probe_failure_info{outcome=\"refused\"} 1", body)
        self.assertIn("\n\n\nModule configuration:\nprober: http\n", body)

    def test_e_a_broken_module_file_fails_the_reload_and_the_old_modules_keep_answering(self):
        self.modules.write_text(BROKEN_MODULES)
        try:
            status, body, _ = netns_http(self.lab.client_ns, "POST",
                                         f"http://127.0.0.1:{AGENT_PORT}/-/reload")
            self.assertEqual(status, 500, body)
            self.assertIn(f"{self.modules}:5:7: modules.http_2xx.http.fail_if_ssl: unknown "
                          "or unsupported key", body)
            target = urllib.parse.quote(self.targets["up"], safe="")
            status, body, _ = self.get(f"target={target}&module=http_post")
            self.assertEqual(status, 200)
            self.assertIn("probe_success 1", body)
            self.assertIn("config reload failed", self.agent.output())
            metrics = self.agent.metrics_text()
            self.assertIn("connwatch_config_last_reload_successful 0", metrics)
        finally:
            self.modules.write_text(MODULES)
        status, body, _ = netns_http(self.lab.client_ns, "POST",
                                     f"http://127.0.0.1:{AGENT_PORT}/-/reload")
        self.assertEqual(status, 200, body)


if __name__ == "__main__":
    unittest.main(verbosity=2)
