"""Every reset fault of the lab, checked against tcpdump on the veth and curl's exit codes."""

import unittest

import lab

RST = "tcp[tcpflags] & tcp-rst != 0"


class Resets(unittest.TestCase):
    def setUp(self):
        self.L = lab.Lab().__enter__()
        self.addCleanup(self.L.close)

    def rsts_from(self, host: str) -> str:
        return f"src host {host} and {RST}"

    def test_rst_after_accept_resets_every_connection_from_the_server(self):
        L = self.L
        L.start_server("rst-after-accept", 9001)
        with L.tcpdump("client", bpf=self.rsts_from(L.server_ip)) as cap:
            result = L.resets(10, 9001)
            self.assertEqual(cap.wait_for(10), 10)
        self.assertEqual(result["connected"], 10)
        self.assertEqual(result["reset_received"], 10)
        self.assertEqual(result["errors"], {"ECONNRESET": 10})
        self.assertEqual(len(cap.stop()), 10)
        self.assertEqual(L.curl(L.url(9001)).returncode, 56)  # "Recv failure: reset by peer"

    def test_client_abort_sends_one_rst_per_connection_and_leaves_no_time_wait(self):
        L = self.L
        L.start_server("ok", 9001)
        with L.tcpdump("client", bpf=self.rsts_from(L.client_ip)) as cap:
            result = L.resets(10, 9001, sent=True)
            cap.wait_for(10)
        self.assertEqual(result["reset_sent"], 10)
        self.assertEqual(len(cap.stop()), 10)
        self.assertEqual(L.time_wait_count("client"), 0)
        self.assertEqual(L.time_wait_count("server"), 0)

    def test_rst_after_response_delivers_the_response_then_resets(self):
        L = self.L
        L.start_server("rst-after-response", 9001)
        with L.tcpdump("client", bpf=f"src host {L.server_ip} and tcp port 9001") as cap:
            curl = L.curl(L.url(9001))
            cap.wait_for(3)
        self.assertEqual(curl.returncode, 0, curl.stderr)
        self.assertEqual(curl.stdout, "ok\n")
        lines = cap.stop()
        flags = [line.split("Flags [", 1)[1].split("]")[0] for line in lines]
        self.assertFalse(any("F" in f for f in flags), "a reset, not a FIN")
        data_at = next(i for i, line in enumerate(lines) if "length 0" not in line)
        first_rst = next(i for i, f in enumerate(flags) if "R" in f)
        self.assertLess(data_at, first_rst, "the response comes before the RST")
        self.assertEqual(flags[first_rst], "R.", "the abort is RST|ACK (tcp_send_active_reset)")
        # A later bare RST may answer curl's own ACK/FIN that crossed the abort on the wire.
        self.assertTrue(all(f == "R" for f in flags[first_rst + 1:] if "R" in f), flags)

    def test_port_without_listener_refuses_each_syn_with_rst(self):
        L = self.L
        with L.tcpdump("client", bpf=self.rsts_from(L.server_ip)) as cap:
            result = L.refused(10, 9003)
            curl = L.curl(L.url(9003))
            cap.wait_for(11)
        self.assertEqual(result["refused"], 10)
        self.assertEqual(result["errors"], {"ECONNREFUSED": 10})
        self.assertEqual(curl.returncode, 7)  # "Couldn't connect to server"
        self.assertEqual(len(cap.stop()), 11)

    def test_firewall_reset_on_syn_is_refused_though_the_server_listens(self):
        # The RST answers the SYN, so connect() fails with ECONNREFUSED: curl 7, not 56.
        L = self.L
        L.start_server("ok", 9001)
        L.reject_with_reset(9001)
        with L.tcpdump("client", bpf=self.rsts_from(L.server_ip)) as cap:
            curl = L.curl(L.url(9001))
            result = L.refused(3, 9001)
            cap.wait_for(4)
        self.assertEqual(curl.returncode, 7, curl.stderr)
        self.assertEqual(result["refused"], 3)
        self.assertEqual(len(cap.stop()), 4)

    def test_firewall_reset_midstream_aborts_the_request(self):
        L = self.L
        L.start_server("ok", 9001)
        L.reject_with_reset(9001, midstream=True)
        with L.tcpdump("client", bpf=self.rsts_from(L.server_ip)) as cap:
            curl = L.curl(L.url(9001))
            cap.wait_for(1)
        self.assertEqual(curl.returncode, 56, curl.stderr)  # handshake done, request reset
        self.assertEqual(len(cap.stop()), 1)

    def test_firewall_reset_works_over_ipv6(self):
        L = self.L
        L.start_server("ok", 9001)
        L.reject_with_reset(9001, midstream=True, ip6=True)
        self.assertEqual(L.curl(L.url(9001, ip6=True)).returncode, 56)
        self.assertEqual(L.curl(L.url(9001)).returncode, 0, "the IPv4 path has no rule")

    def test_reset_ttl_rule_makes_resets_look_injected(self):
        L = self.L
        L.start_server("rst-after-accept", 9001)
        L.set_reset_ttl(123)
        with L.tcpdump("client", bpf=f"src host {L.server_ip}") as cap:
            L.resets(1, 9001)
            cap.wait_for(2)
        cap.stop()
        lines = cap.read("-v")
        synack = [line for line in lines if "Flags [S.]" in line]
        rst = [line for line in lines if "Flags [R" in line]
        self.assertEqual(len(synack), 1)
        self.assertEqual(len(rst), 1)
        self.assertIn("ttl 64", synack[0])
        self.assertIn("ttl 123", rst[0])


if __name__ == "__main__":
    lab.skip_unless_available("tcpdump", "curl", "iptables", "ip6tables")
    unittest.main(verbosity=2)
