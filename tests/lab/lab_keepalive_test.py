"""Keep-alive and HTTP behaviour: idle closes (lab-server and real nginx), the stale-connection
write answered by RST, slow answers, 503-then-200, the Keep-Alive header, tcp-echo."""

import time
import unittest

import lab


def fin_and_data_times(capture: lab.Capture) -> tuple[list[float], list[float]]:
    """Epoch times of data segments and of FINs in a capture."""
    data, fins = [], []
    for line in capture.read("-tt"):
        stamp = float(line.split()[0])
        if "Flags [F" in line:
            fins.append(stamp)
        elif "length 0" not in line:
            data.append(stamp)
    return data, fins


class KeepAlive(unittest.TestCase):
    def setUp(self):
        self.L = lab.Lab().__enter__()
        self.addCleanup(self.L.close)

    def assert_server_closes_idle_after(self, port: int, seconds: float, ip: str | None = None):
        L = self.L
        server_side = f"src host {ip or L.server_ip} and tcp src port {port}"
        with L.tcpdump("client", bpf=server_side) as cap:
            result = L.idle(port, ip=ip, timeout="5s")
            cap.wait_for(3)
        cap.stop()
        self.assertEqual(result["status"], 200)
        self.assertEqual(result["closed_by"], "fin")
        # Generous bounds: this checks which timeout fires, not how precisely.
        self.assertGreater(result["idle_seconds"], seconds * 0.8)
        self.assertLess(result["idle_seconds"], seconds + 0.5)
        data, fins = fin_and_data_times(cap)
        self.assertEqual(len(fins), 1, "one FIN from the server")
        observed = fins[0] - data[-1]  # the independent observer's view of the idle period
        self.assertGreater(observed, seconds * 0.8)
        self.assertLess(observed, seconds + 0.5)

    def test_idle_close_server_sends_fin_after_one_idle_second(self):
        self.L.start_server("idle-close", 9001, after="1s")
        self.assert_server_closes_idle_after(9001, 1.0)

    def test_idle_close_honours_a_shorter_idle_period_over_ipv6(self):
        self.L.start_server("idle-close", 9001, after="250ms")
        self.assert_server_closes_idle_after(9001, 0.25, ip=self.L.server_ip6)

    def test_nginx_closes_keepalive_connections_after_keepalive_timeout(self):
        self.L.start_nginx(9002, keepalive_timeout="1s")
        self.assert_server_closes_idle_after(9002, 1.0)

    def test_ok_server_keeps_idle_connections_open(self):
        self.L.start_server("ok", 9001)
        result = self.L.idle(9001, timeout="1500ms")
        self.assertEqual(result["closed_by"], "timeout")

    def test_request_on_a_connection_the_server_closed_is_answered_by_rst(self):
        L = self.L
        L.start_server("idle-close", 9001, after="250ms")
        rsts = f"src host {L.server_ip} and tcp[tcpflags] & tcp-rst != 0"
        with L.tcpdump("client", bpf=rsts) as cap:
            result = L.idle(9001, then_send=True)
            cap.wait_for(1)
        self.assertEqual(result["closed_by"], "fin")
        # The first write is accepted locally; the RST it provokes fails the next one.
        self.assertIn(result["second_request"], ("EPIPE", "ECONNRESET"))
        self.assertEqual(len(cap.stop()), 1)

    def test_slow_server_trips_a_short_client_deadline(self):
        L = self.L
        L.start_server("slow", 9001, delay="2s")
        self.assertEqual(L.curl(L.url(9001), max_time=1).returncode, 28)
        started = time.monotonic()
        curl = L.curl(L.url(9001), max_time=5)
        self.assertEqual((curl.returncode, curl.stdout), (0, "ok\n"))
        self.assertGreaterEqual(time.monotonic() - started, 2.0)

    def test_fail_then_ok_answers_503_with_retry_after_then_200(self):
        L = self.L
        L.start_server("fail-then-ok", 9001, failures=2, retry_after=True)
        fmt = "%{http_code} %header{retry-after}"
        codes = [L.curl(L.url(9001), "-o", "/dev/null", "-w", fmt).stdout for _ in range(3)]
        self.assertEqual(codes, ["503 0", "503 0", "200 "])

    def test_fail_then_ok_omits_retry_after_unless_asked(self):
        L = self.L
        L.start_server("fail-then-ok", 9001, failures=1)
        curl = L.curl(L.url(9001), "-i")
        self.assertIn("503", curl.stdout.splitlines()[0])
        self.assertNotIn("Retry-After", curl.stdout)

    def test_keepalive_header_is_sent_only_when_asked(self):
        L = self.L
        L.start_server("ok", 9001, keepalive_header=5)
        L.start_server("ok", 9002)
        self.assertIn("Keep-Alive: timeout=5", L.curl(L.url(9001), "-i").stdout)
        self.assertNotIn("Keep-Alive", L.curl(L.url(9002), "-i").stdout)

    def test_ok_server_reuses_one_connection_and_honours_connection_close(self):
        L = self.L
        L.start_server("ok", 9001)
        syns = "tcp dst port 9001 and tcp[tcpflags] & tcp-syn != 0"
        with L.tcpdump("client", bpf=syns) as cap:
            curl = L.client(["curl", "-sS", "-v", "--max-time", "5", "-o", "/dev/null",
                             L.url(9001), "--next", "-H", "Connection: close", "-i",
                             L.url(9001)], capture_output=True, text=True, timeout=15)
        self.assertEqual(curl.returncode, 0, curl.stderr)
        self.assertIn("Re-using existing connection", curl.stderr)
        self.assertIn("Connection: close", curl.stdout)
        self.assertEqual(len(cap.stop()), 1, "two requests, one handshake")
        # The server closed first after "Connection: close", so the TIME_WAIT is on its side.
        self.assertEqual(L.time_wait_count("server", port=9001), 1)

    def test_tcp_echo_echoes_each_line(self):
        L = self.L
        L.start_server("tcp-echo", 9005)
        script = (f"exec 3<>/dev/tcp/{L.server_ip}/9005; printf 'one\\ntwo\\n' >&3; "
                  "head -n 2 <&3")
        out = L.client(["bash", "-c", script], capture_output=True, text=True, timeout=10)
        self.assertEqual(out.stdout, "one\ntwo\n")


if __name__ == "__main__":
    lab.skip_unless_available("tcpdump", "curl", "nginx")
    unittest.main(verbosity=2)
