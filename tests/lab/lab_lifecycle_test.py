"""The lab itself: wiring, isolation between labs, and teardown on every way out."""

import os
import signal
import subprocess
import sys
import textwrap
import time
import unittest

import lab


def namespaces() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=10)
    return {line.split()[0] for line in out.stdout.splitlines() if line.strip()}


# A child process that builds a lab, reports its names, and waits to be signalled.
CHILD = textwrap.dedent("""
    import time, lab
    with lab.Lab() as L:
        server = L.start_server("ok", 9001)
        print(L.client_ns, L.server_ns, server.proc.pid, flush=True)
        time.sleep(30)
""")


class LabLifecycle(unittest.TestCase):
    def start_child(self) -> tuple[subprocess.Popen, list[str], int]:
        child = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, text=True,
                                 env=dict(os.environ))
        self.addCleanup(lambda: (child.kill(), child.wait(), child.stdout.close()))
        client_ns, server_ns, server_pid = child.stdout.readline().split()
        return child, [client_ns, server_ns], int(server_pid)

    def assert_process_gone(self, pid: int) -> None:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        self.fail(f"process {pid} still running")

    def test_both_namespaces_have_loopback_up_and_the_veth_carries_ipv4_and_ipv6(self):
        with lab.Lab() as L:
            for run in (L.client, L.server):
                link = run(["ip", "-br", "link", "show", "lo"], capture_output=True, text=True)
                self.assertIn("UP", link.stdout)
            self.assertNotEqual(L.client_if, L.server_if)
            L.start_server("ok", 9001)
            self.assertEqual(L.curl(L.url(9001)).stdout, "ok\n")
            self.assertEqual(L.curl(L.url(9001, ip6=True)).stdout, "ok\n")
            loopback = L.server(["curl", "-sS", "--max-time", "5", "http://127.0.0.1:9001/"],
                                capture_output=True, text=True)
            self.assertEqual(loopback.stdout, "ok\n")

    def test_time_wait_is_protected_from_stray_resets_unless_asked_otherwise(self):
        knob = ["sysctl", "-n", "net.ipv4.tcp_rfc1337"]
        with lab.Lab() as L:
            for run in (L.client, L.server):
                self.assertEqual(run(knob, capture_output=True, text=True).stdout.strip(), "1")
        with lab.Lab(rfc1337=False) as L:
            self.assertEqual(L.client(knob, capture_output=True, text=True).stdout.strip(), "0")

    def test_two_labs_at_once_have_their_own_names_ports_and_sockets(self):
        with lab.Lab() as a, lab.Lab() as b:
            self.assertEqual(len({a.client_ns, a.server_ns, b.client_ns, b.server_ns}), 4)
            self.assertNotEqual(a.client_if, b.client_if)
            a.start_server("ok", 9001)
            b.start_server("ok", 9001)  # the same port: each namespace has its own
            self.assertEqual(a.churn(3, 9001)["fin_closed"], 3)
            self.assertEqual(a.time_wait_count("client"), 3)
            self.assertEqual(b.time_wait_count("client"), 0)

    def test_teardown_removes_namespaces_and_processes_even_when_the_body_raises(self):
        with self.assertRaises(RuntimeError):
            with lab.Lab() as L:
                names = {L.client_ns, L.server_ns}
                server = L.start_server("ok", 9001)
                self.assertLessEqual(names, namespaces())
                raise RuntimeError("test body failed")
        self.assertFalse(names & namespaces())
        self.assertIsNotNone(server.proc.poll())
        self.assertFalse(os.path.exists(L.workdir))

    def test_sigterm_tears_the_lab_down(self):
        child, names, server_pid = self.start_child()
        self.assertLessEqual(set(names), namespaces())
        child.send_signal(signal.SIGTERM)
        self.assertEqual(child.wait(timeout=15), 128 + signal.SIGTERM)
        self.assertFalse(set(names) & namespaces())
        self.assert_process_gone(server_pid)

    def test_cleanup_removes_what_a_killed_run_left_and_spares_live_labs(self):
        child, names, server_pid = self.start_child()
        child.kill()  # SIGKILL: no handler runs, the namespaces stay behind
        child.wait(timeout=10)
        self.assertLessEqual(set(names), namespaces())
        with lab.Lab() as live:
            cleanup = subprocess.run([sys.executable, "tests/lab/cleanup.py"],
                                     cwd=os.environ.get("CONNWATCH_SOURCE_DIR", "."),
                                     capture_output=True, text=True, timeout=30)
            self.assertEqual(cleanup.returncode, 0, cleanup.stderr)
            self.assertFalse(set(names) & namespaces())
            self.assertIn(live.client_ns, namespaces(), "a live lab's namespaces stay")
        self.assert_process_gone(server_pid)


if __name__ == "__main__":
    lab.skip_unless_available("curl")
    unittest.main(verbosity=2)
