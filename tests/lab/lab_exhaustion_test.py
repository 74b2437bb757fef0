"""Port and fd exhaustion, and the blackholing firewall."""

import subprocess
import unittest

import lab


class Exhaustion(unittest.TestCase):
    def setUp(self):
        self.L = lab.Lab().__enter__()
        self.addCleanup(self.L.close)
        self.L.start_server("ok", 9001)

    def test_narrowed_port_range_ends_in_eaddrnotavail(self):
        L = self.L
        L.set_port_range(40000, 40009)
        result = L.exhaust(9001)
        self.assertEqual(result["connected"], 10, "one connection per port in the range")
        self.assertEqual(result["first_error"], "EADDRNOTAVAIL")

    def test_time_wait_sockets_hold_their_ports(self):
        # tcp_tw_reuse defaults to loopback only (2), so over the veth TIME_WAIT blocks the port.
        L = self.L
        L.set_port_range(40000, 40019)
        self.assertEqual(L.churn(20, 9001)["fin_closed"], 20)
        self.assertEqual(L.time_wait_count("client", port=9001), 20)
        result = L.exhaust(9001)
        self.assertEqual(result["connected"], 0)
        self.assertEqual(result["first_error"], "EADDRNOTAVAIL")

    def test_port_range_is_per_destination(self):
        L = self.L
        L.start_server("ok", 9002)
        L.set_port_range(40000, 40009)
        self.assertEqual(L.exhaust(9001)["connected"], 10)
        self.assertEqual(L.exhaust(9002)["connected"], 10, "another 4-tuple, the same ports")

    def test_low_nofile_limit_ends_in_emfile(self):
        result = self.L.exhaust(9001, nofile=32)
        self.assertEqual(result["first_error"], "EMFILE")
        self.assertGreater(result["connected"], 20)  # 32 minus stdio and the runtime's own fds
        self.assertLess(result["connected"], 32)

    def test_exhaust_can_hold_its_connections_for_observers(self):
        L = self.L
        L.set_port_range(40000, 40009)
        proc = L.popen_client([lab.binary("lab-gen"), "exhaust", "--host", L.server_ip,
                               "--port", "9001", "--hold", "10s"], stdout=subprocess.PIPE,
                               text=True)
        first = proc.stdout.readline()
        self.assertIn('"first_error":"EADDRNOTAVAIL"', first)
        established = L.client(["ss", "-Htn", "state", "established", "dport = :9001"],
                               capture_output=True, text=True).stdout.splitlines()
        self.assertEqual(len(established), 10)

    def test_blackhole_times_out_without_any_reset(self):
        L = self.L
        L.blackhole(9001)
        with L.tcpdump("client", bpf="tcp port 9001") as cap:
            curl = L.curl(L.url(9001), max_time=1)
            result = L.refused(2, 9001, timeout="300ms")
        self.assertEqual(curl.returncode, 28, curl.stderr)  # "Connection timed out"
        self.assertEqual(result["errors"], {"ETIMEDOUT": 2})
        lines = cap.stop()
        self.assertTrue(lines, "the SYNs were sent")
        self.assertTrue(all("Flags [S]" in line for line in lines), lines)
        self.assertFalse([line for line in lines if f"{L.server_ip}.9001 >" in line],
                         "nothing ever comes back")


if __name__ == "__main__":
    lab.skip_unless_available("tcpdump", "curl", "iptables", "prlimit")
    unittest.main(verbosity=2)
