#!/usr/bin/env python3
"""The whole agent in the lab: run `agent` in the client namespace, make known TCP faults, and
check what an operator scrapes from /metrics against what was generated and against independent
observers (tcpdump for resets, ss for TIME_WAIT). Needs root, network namespaces, tcpdump and
iptables; exits 77 without them."""
import sys
import time
import unittest

import lab
from support import AgentProcess, parse_metrics, promtool, sample, wait_until

OK, ABORTING, REFUSED = 8080, 8081, 8082
N_REFUSED, N_ABORTED, N_CHURNED = 5, 4, 7
# Where the test makes its faults. On loopback a refused /-/healthy poll while the agent starts
# is a reset too (port "other"), and not one of them.
LAB_PORTS = (OK, ABORTING, REFUSED)



class AgentInTheLab(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.lab = lab.Lab().__enter__()
        L = cls.lab
        L.start_server("ok", OK)
        L.start_server("rst-after-accept", ABORTING)
        config = f"""
[capture]
interface = "any"
ports = [{OK}, {ABORTING}, {REFUSED}]

[sockets]
interval = "1s"
namespaces = "self"
"""
        cls.agent = AgentProcess(config, netns=L.client_ns).wait_healthy()
        up = wait_until(lambda: sample(cls.agent.metrics(), "connwatch_capture_up") == 1)
        assert up, f"capture did not come up:\n{cls.agent.output()}"

        lab_ports = " or ".join(f"port {p}" for p in LAB_PORTS)
        bpf = f"tcp[tcpflags] & tcp-rst != 0 and ({lab_ports})"
        with L.tcpdump("client", bpf=bpf) as cls.rsts:
            L.refused(N_REFUSED, REFUSED)
            L.resets(N_ABORTED, ABORTING)
            L.churn(N_CHURNED, OK)
            cls.rsts.wait_for(N_REFUSED + N_ABORTED)
            cls.rst_lines = cls.rsts.stop()
        cls.destination = f"{L.server_ip}:{OK}"

    @classmethod
    def tearDownClass(cls):
        cls.agent.close()
        cls.lab.__exit__(None, None, None)

    def metric(self, name, **labels):
        return sample(self.agent.metrics(), name, **labels)

    def eventually(self, name, expected, **labels):
        wait_until(lambda: self.metric(name, **labels) == expected)
        self.assertEqual(self.metric(name, **labels), expected, f"{name}{labels}")

    def test_refused_connects_are_server_resets_in_the_handshake(self):
        self.eventually("connwatch_tcp_resets_total", N_REFUSED, sender="server",
                        phase="handshake", port=str(REFUSED))

    def test_resets_after_accept_are_server_resets_of_established_connections(self):
        self.eventually("connwatch_tcp_resets_total", N_ABORTED, sender="server",
                        phase="established", port=str(ABORTING))
        self.eventually("connwatch_tcp_closes_total", N_ABORTED, how="reset", port=str(ABORTING))

    def test_resets_on_the_lab_ports_equal_what_tcpdump_saw(self):
        lab_ports = {str(p) for p in LAB_PORTS}

        def total():
            return sum(v for (name, labels), v in self.agent.metrics().items()
                       if name == "connwatch_tcp_resets_total"
                       and dict(labels)["port"] in lab_ports)
        wait_until(lambda: total() == len(self.rst_lines))
        self.assertEqual(total(), len(self.rst_lines), "\n".join(self.rst_lines))
        self.assertEqual(total(), N_REFUSED + N_ABORTED)

    def test_client_first_closes_are_client_time_wait_entries(self):
        self.eventually("connwatch_tcp_time_wait_entries_total", N_CHURNED, side="client",
                        port=str(OK))
        self.eventually("connwatch_tcp_closes_total", N_CHURNED, how="fin", port=str(OK))
        self.eventually("connwatch_tcp_connections_total", N_CHURNED, port=str(OK))

    def test_time_wait_sockets_per_destination_match_ss(self):
        expected = self.lab.time_wait_count("client", port=OK)
        self.assertEqual(expected, N_CHURNED)
        self.eventually("connwatch_time_wait_sockets", expected, destination=self.destination,
                        netns=self.lab.client_ns)

    def test_time_wait_total_matches_ss_read_around_a_collection(self):
        # Scrapes themselves leave TIME_WAIT on loopback, so bracket one collection with ss.
        before = self.lab.time_wait_count("client")
        time.sleep(1.5)  # one [sockets] interval, with nothing connecting
        seen = self.metric("connwatch_sockets", state="time_wait", netns=self.lab.client_ns)
        after = self.lab.time_wait_count("client")
        self.assertGreaterEqual(seen, before)
        self.assertLessEqual(seen, after)

    def test_the_scrape_passes_promtool(self):
        tool = promtool()
        if not tool:
            self.skipTest("promtool not installed")
        import subprocess
        result = subprocess.run([tool, "check", "metrics"], input=self.agent.metrics_text(),
                                capture_output=True, text=True)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)


if __name__ == "__main__":
    lab.skip_unless_available("tcpdump", "curl", "iptables")
    unittest.main(verbosity=2)
