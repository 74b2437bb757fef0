"""churn leaves exactly one TIME_WAIT per connection on the client, as `ss` counts them."""

import unittest

import lab


class TimeWait(unittest.TestCase):
    def setUp(self):
        self.L = lab.Lab().__enter__()
        self.addCleanup(self.L.close)
        self.L.start_server("ok", 9001)

    def test_churn_leaves_exactly_one_time_wait_per_connection_on_the_client(self):
        L = self.L
        fins_from_client = f"src host {L.client_ip} and tcp[tcpflags] & tcp-fin != 0"
        with L.tcpdump("client", bpf=fins_from_client) as cap:
            result = L.churn(50, 9001)
            cap.wait_for(50)
        self.assertEqual(result["connected"], 50)
        self.assertEqual(result["fin_closed"], 50)
        self.assertEqual(L.time_wait_count("client", port=9001), 50)
        self.assertEqual(L.time_wait_count("server", port=9001), 0, "the server closed second")
        self.assertEqual(len(cap.stop()), 50)

    def test_churn_over_ipv6_counts_the_same(self):
        L = self.L
        result = L.churn(20, 9001, ip=L.server_ip6)
        self.assertEqual(result["fin_closed"], 20)
        self.assertEqual(L.time_wait_count("client", port=9001), 20)

    def test_churn_with_rst_sends_one_rst_each_and_leaves_no_time_wait(self):
        L = self.L
        rsts = f"src host {L.client_ip} and tcp[tcpflags] & tcp-rst != 0"
        with L.tcpdump("client", bpf=rsts) as cap:
            result = L.churn(20, 9001, rst=True)
            cap.wait_for(20)
        self.assertEqual(result["reset_sent"], 20)
        self.assertEqual(len(cap.stop()), 20)
        self.assertEqual(L.time_wait_count("client"), 0)

    def test_churn_can_send_a_line_to_the_echo_server_first(self):
        L = self.L
        L.start_server("tcp-echo", 9005)
        result = L.churn(5, 9005, send="hello")
        self.assertEqual(result["fin_closed"], 5)
        self.assertEqual(L.time_wait_count("client", port=9005), 5)


if __name__ == "__main__":
    lab.skip_unless_available("tcpdump")
    unittest.main(verbosity=2)
