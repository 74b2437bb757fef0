#!/usr/bin/env python3
"""[web] on the real agent, checked with curl as a scraper would meet it: basic auth answers 401
without or with wrong credentials and 200 with the right ones; TLS serves HTTPS with the given
certificate and refuses plain HTTP; a certificate that does not load stops startup (exit 3)."""
import os
import shutil
import subprocess
import tempfile
import unittest
from pathlib import Path

from support import AgentProcess, skip

# openssl passwd -5 -salt connwatchsalt s3cret (fast to verify; bcrypt is covered by the unit test)
HASH = "$5$connwatchsalt$II6OmsN6zb36FMD9oRDnSxKuPUQ/p2kqi5OOONcVLZ0"


def curl(*args):
    proc = subprocess.run(["curl", "-sS", "--max-time", "5", "-o", "/dev/null", "-w",
                           "%{http_code}", *args], capture_output=True, text=True, timeout=20)
    return proc.returncode, proc.stdout, proc.stderr


class WebSecurity(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = Path(tempfile.mkdtemp(prefix="connwatch-web-"))
        cls.cert, cls.key = cls.dir / "cert.pem", cls.dir / "key.pem"
        proc = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                               "-days", "2", "-subj", "/CN=localhost", "-addext",
                               "subjectAltName=IP:127.0.0.1,DNS:localhost",
                               "-keyout", str(cls.key), "-out", str(cls.cert)],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def config(self, tls=False, auth=False):
        text = "[capture]\nenabled = false\n[sockets]\nenabled = false\n[web]\n"
        if tls:
            text += f'tls_cert = "{self.cert}"\ntls_key = "{self.key}"\n'
        if auth:
            text += f'basic_auth_users = {{ prometheus = "{HASH}" }}\n'
        return text

    def wait_listening(self, agent, scheme):
        for _ in range(100):
            rc, _, _ = curl("-k", "-u", "prometheus:s3cret", f"{scheme}://127.0.0.1:{agent.port}/-/healthy")
            if rc == 0:
                return
            if agent.proc.poll() is not None:
                self.fail(f"agent exited {agent.proc.returncode}:\n{agent.output()}")
            __import__("time").sleep(0.05)
        self.fail("agent did not listen:\n" + agent.output())

    def test_basic_auth(self):
        with AgentProcess(self.config(auth=True)) as agent:
            self.wait_listening(agent, "http")
            url = f"http://127.0.0.1:{agent.port}/metrics"
            self.assertEqual(curl(url)[1], "401")
            self.assertEqual(curl("-u", "prometheus:wrong", url)[1], "401")
            self.assertEqual(curl("-u", "someone:s3cret", url)[1], "401")
            self.assertEqual(curl("-u", "prometheus:s3cret", url)[1], "200")
            # Every path is guarded, the landing page and reload too.
            self.assertEqual(curl(f"http://127.0.0.1:{agent.port}/")[1], "401")
            self.assertEqual(curl("-X", "POST", f"http://127.0.0.1:{agent.port}/-/reload")[1],
                             "401")
            # /probe too (issue 20): no probe runs for a client without the password.
            probe = f"http://127.0.0.1:{agent.port}/probe?module=http_2xx&target=127.0.0.1:9"
            self.assertEqual(curl(probe)[1], "401")
            self.assertEqual(curl("-u", "prometheus:s3cret", probe)[1], "400")  # no module file
            proc = subprocess.run(["curl", "-sS", "-i", url], capture_output=True, text=True)
            self.assertIn('www-authenticate: basic realm="connwatch"', proc.stdout.lower())

    def test_tls_serves_https_and_refuses_plain_http(self):
        with AgentProcess(self.config(tls=True, auth=True)) as agent:
            self.wait_listening(agent, "https")
            url = f"https://127.0.0.1:{agent.port}/metrics"
            # Verified against the certificate itself: the agent serves the configured one.
            self.assertEqual(curl("--cacert", str(self.cert), "-u", "prometheus:s3cret", url)[1],
                             "200")
            self.assertEqual(curl("--cacert", str(self.cert), url)[1], "401")
            rc, code, _ = curl("-u", "prometheus:s3cret", f"http://127.0.0.1:{agent.port}/metrics")
            self.assertNotEqual(rc, 0)
            self.assertNotEqual(code, "200")
            # TLS 1.1 and older are refused.
            rc, _, _ = curl("-k", "--tls-max", "1.1", url)
            self.assertNotEqual(rc, 0)
            # Still serving after the failed handshakes.
            self.assertEqual(curl("-k", "-u", "prometheus:s3cret", url)[1], "200")

    def test_a_certificate_that_does_not_load_stops_startup(self):
        text = self.config() + f'tls_cert = "{self.dir / "missing.pem"}"\ntls_key = "{self.key}"\n'
        with AgentProcess(text) as agent:
            self.assertEqual(agent.proc.wait(timeout=10), 3)
            self.assertIn("web.tls_cert", agent.output())


if __name__ == "__main__":
    if not shutil.which("curl") or not shutil.which("openssl"):
        skip("curl and openssl are needed (scripts/install-deps.sh installs them)")
    unittest.main(verbosity=2)
