#!/usr/bin/env python3
"""Active probes of the running agent against the lab's faulty servers: each target's outcome is
the one its fault must produce, as an operator reads it from /metrics. The agent runs in the lab's
client namespace; the servers in the server namespace. Needs root, network namespaces, iptables
and nginx; exits 77 without them."""
import time
import unittest

import lab
from support import AgentProcess, sample

OK, ABORT, REFUSED, BLACKHOLE, IDLE_CLOSE, NGINX, FLAPPING, ECHO = range(8180, 8188)


class ProbesInTheLab(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.lab = lab.Lab().__enter__()
        L = cls.lab
        L.start_server("ok", OK)
        L.start_server("rst-after-accept", ABORT)
        L.start_server("ok", BLACKHOLE)
        L.blackhole(BLACKHOLE)
        L.start_server("idle-close", IDLE_CLOSE, after="1s")
        L.start_nginx(NGINX, keepalive_timeout="1s")
        L.start_server("fail-then-ok", FLAPPING, failures=2)
        L.start_server("tcp-echo", ECHO)
        ip = L.server_ip
        config = f"""
[capture]
enabled = false

[sockets]
enabled = false

[pool]
idle_timeout = "30s"
connect_timeout = "500ms"
request_timeout = "1s"

[retry]
max_attempts = 3
base_delay = "50ms"
max_delay = "200ms"

[[target]]
name = "ok"
url = "http://{ip}:{OK}/"
interval = "1s"

[[target]]
name = "abort"
url = "http://{ip}:{ABORT}/"
interval = "1s"
max_attempts = 1

[[target]]
name = "refused"
url = "http://{ip}:{REFUSED}/"
interval = "1s"
max_attempts = 1

[[target]]
name = "blackhole"
url = "http://{ip}:{BLACKHOLE}/"
interval = "2s"
max_attempts = 1

[[target]]
name = "idle-close"
url = "http://{ip}:{IDLE_CLOSE}/"
interval = "2s"

[[target]]
name = "nginx"
url = "http://{ip}:{NGINX}/"
interval = "2s"

[[target]]
name = "flapping"
url = "http://{ip}:{FLAPPING}/"
interval = "30s"

[[target]]
name = "echo"
url = "tcp://{ip}:{ECHO}"
interval = "1s"
"""
        cls.agent = AgentProcess(config, netns=L.client_ns).wait_healthy()
        time.sleep(7.5)  # idle-close and nginx: three probes 2 s apart, each after a peer close
        cls.m = cls.agent.metrics()

    @classmethod
    def tearDownClass(cls):
        cls.agent.close()
        cls.lab.__exit__(None, None, None)

    def value(self, name, **labels):
        return sample(self.m, name, **labels) or 0

    def attempts(self, target):
        return {outcome: self.value("connwatch_probe_attempts_total", target=target,
                                    outcome=outcome)
                for outcome in ("success", "reset", "refused", "timeout", "dns_error",
                                "addr_not_available", "fd_exhausted", "tls_error", "http_status",
                                "closed_early", "other")}

    def only(self, target, outcome):
        counts = self.attempts(target)
        self.assertGreaterEqual(counts[outcome], 1, f"{target}: {counts}\n{self.agent.output()}")
        self.assertEqual(sum(counts.values()), counts[outcome], f"{target}: {counts}")

    def test_ok_server_succeeds_and_reuses_its_pooled_connection(self):
        self.only("ok", "success")
        self.assertEqual(self.value("connwatch_probe_success", target="ok"), 1)
        self.assertEqual(self.value("connwatch_pool_requests_total", target="ok",
                                    connection="new"), 1)
        self.assertGreaterEqual(self.value("connwatch_pool_requests_total", target="ok",
                                           connection="reused"), 5)
        self.assertEqual(self.value("connwatch_pool_connections_opened_total", target="ok"), 1)
        self.assertEqual(self.value("connwatch_probe_http_status_code", target="ok"), 200)

    def test_server_resetting_after_accept_is_a_reset(self):
        self.only("abort", "reset")
        self.assertEqual(self.value("connwatch_probe_success", target="abort"), 0)

    def test_port_without_listener_is_refused(self):
        self.only("refused", "refused")
        self.assertGreaterEqual(self.value("connwatch_probe_results_total", target="refused",
                                           result="exhausted"), 1)

    def test_dropped_syns_time_out(self):
        self.only("blackhole", "timeout")

    def test_server_idle_close_retires_connections_before_they_go_stale(self):
        for target in ("idle-close", "nginx"):
            with self.subTest(target=target):
                self.only(target, "success")
                self.assertGreaterEqual(self.value("connwatch_probe_attempts_total",
                                                   target=target, outcome="success"), 3)
                self.assertGreaterEqual(self.value("connwatch_pool_connections_closed_total",
                                                   target=target, reason="peer_closed"), 2)
                idle = self.value("connwatch_pool_peer_idle_close_seconds", target=target)
                self.assertGreater(idle, 0.8)
                self.assertLess(idle, 1.6)
                self.assertEqual(self.value("connwatch_pool_stale_resets_total", target=target),
                                 0)

    def test_server_failing_twice_then_answering_succeeds_after_retry(self):
        self.assertEqual(self.value("connwatch_probe_results_total", target="flapping",
                                    result="after_retry"), 1)
        self.assertEqual(self.value("connwatch_probe_retries_total", target="flapping"), 2)
        self.assertEqual(self.value("connwatch_probe_attempts_total", target="flapping",
                                    outcome="http_status"), 2)
        self.assertEqual(self.value("connwatch_probe_success", target="flapping"), 1)

    def test_tcp_target_dials_a_new_connection_for_every_probe(self):
        # SPEC §4: a tcp probe checks the network every time, so it never reuses a connection.
        self.only("echo", "success")
        probes = self.value("connwatch_probe_attempts_total", target="echo", outcome="success")
        self.assertEqual(self.value("connwatch_pool_connections_opened_total", target="echo"),
                         probes)
        self.assertEqual(self.value("connwatch_pool_requests_total", target="echo",
                                    connection="reused"), 0)
        self.assertEqual(self.value("connwatch_pool_connections", target="echo", state="idle"),
                         0)

    def test_landing_page_shows_each_targets_last_result(self):
        status, body, _ = self.agent.get("/")
        self.assertEqual(status, 200)
        self.assertIn("refused", body)
        self.assertIn("reused connection", body)


if __name__ == "__main__":
    lab.skip_unless_available("iptables", "nginx", "curl")
    unittest.main(verbosity=2)
