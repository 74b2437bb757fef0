#!/usr/bin/env python3
"""Target options of SPEC §3, as an operator sees them in /metrics: HTTPS with the test's own CA
(tls_ca_file, tls_server_name), mTLS (tls_cert_file/tls_key_file), request headers and body, the
body check (fail_if_body_not_matches -> outcome body_mismatch) and ip_protocol against a name
that resolves to both ::1 and 127.0.0.1.

Everything runs in a network namespace of the test's own, whose /etc/hosts (`ip netns exec`
bind-mounts /etc/netns/NAME/hosts) names dual.test (::1 and 127.0.0.1) and six.test
(fd00:cafe::1 only).
Certificates come from a CA made here with openssl. Needs root, `ip netns`, openssl, curl."""
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

from support import AgentProcess, sample, skip

NS = f"cwbb{os.getpid()}"
ETC = f"/etc/netns/{NS}"
ECHO, TLS, MTLS, DUAL, V4ONLY = 8201, 8202, 8203, 8204, 8205
OUTCOMES = ("success", "reset", "refused", "timeout", "dns_error", "addr_not_available",
            "fd_exhausted", "tls_error", "http_status", "body_mismatch", "closed_early", "other")


def run(*cmd):
    subprocess.run(cmd, check=True, capture_output=True, timeout=30)


def make_certificates(d):
    """A CA, server.test's certificate and a client certificate, both signed by the CA."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run("openssl", "req", "-x509", *ec, "-keyout", f"{d}/ca.key", "-out", f"{d}/ca.pem",
        "-subj", "/CN=connwatch test CA", "-days", "1")
    for name, ext in (("server", "subjectAltName=DNS:server.test\nextendedKeyUsage=serverAuth\n"),
                      ("client", "extendedKeyUsage=clientAuth\n")):
        with open(f"{d}/{name}.ext", "w") as f:
            f.write(ext)
        run("openssl", "req", *ec, "-keyout", f"{d}/{name}.key", "-out", f"{d}/{name}.csr",
            "-subj", f"/CN={name}.test")
        run("openssl", "x509", "-req", "-in", f"{d}/{name}.csr", "-CA", f"{d}/ca.pem",
            "-CAkey", f"{d}/ca.key", "-CAcreateserial", "-out", f"{d}/{name}.pem", "-days", "1",
            "-extfile", f"{d}/{name}.ext")


# What the echo server must have seen: Host replaced, X-Probe added, the method and the body.
# (?m): ^ and $ match at line ends only when asked, as in Go's RE2 (blackbox) and PCRE2.
ECHOED = (r"(?m)(?=[\s\S]*^host: api\.example\.com$)(?=[\s\S]*^x-probe: connwatch-42$)"
          r"^method: POST$[\s\S]*^body: ping-body$")


def config(d):
    https = 'tls_server_name = "server.test"'
    return f"""
[capture]
enabled = false

[sockets]
enabled = false

[pool]
connect_timeout = "500ms"
request_timeout = "1s"

[retry]
max_attempts = 2
base_delay = "50ms"
max_delay = "100ms"

[[target]]
name = "echo"
url = "http://127.0.0.1:{ECHO}/submit"
interval = "1s"
method = "POST"
headers = {{ Host = "api.example.com", X-Probe = "connwatch-42" }}
body = "ping-body"
fail_if_body_not_matches = '{ECHOED}'

[[target]]
name = "echo-mismatch"
url = "http://127.0.0.1:{ECHO}/"
interval = "1s"
fail_if_body_not_matches = "x-probe: something-else"

[[target]]
name = "tls-ca"
url = "https://127.0.0.1:{TLS}/"
interval = "1s"
tls_ca_file = "{d}/ca.pem"
{https}

[[target]]
name = "tls-system-store"
url = "https://127.0.0.1:{TLS}/"
interval = "1s"
{https}

[[target]]
name = "tls-wrong-name"
url = "https://127.0.0.1:{TLS}/"
interval = "1s"
tls_ca_file = "{d}/ca.pem"
tls_server_name = "other.test"

[[target]]
name = "tls-skip-verify"
url = "https://127.0.0.1:{TLS}/"
interval = "1s"
tls_insecure_skip_verify = true

[[target]]
name = "mtls"
url = "https://127.0.0.1:{MTLS}/"
interval = "1s"
tls_ca_file = "{d}/ca.pem"
tls_cert_file = "{d}/client.pem"
tls_key_file = "{d}/client.key"
{https}

[[target]]
name = "mtls-without-cert"
url = "https://127.0.0.1:{MTLS}/"
interval = "1s"
tls_ca_file = "{d}/ca.pem"
{https}

[[target]]
name = "dual-ip6"
url = "http://dual.test:{DUAL}/"
interval = "1s"
ip_protocol = "ip6"
fail_if_body_not_matches = "family: ipv6"

[[target]]
name = "dual-ip4"
url = "http://dual.test:{DUAL}/"
interval = "1s"
ip_protocol = "ip4"
fail_if_body_not_matches = "family: ipv4"

[[target]]
name = "dual-auto"
url = "http://dual.test:{DUAL}/"
interval = "1s"
fail_if_body_not_matches = "family: ipv6"

[[target]]
name = "auto-falls-back-to-ip4"
url = "http://dual.test:{V4ONLY}/"
interval = "1s"
fail_if_body_not_matches = "family: ipv4"

[[target]]
name = "six-auto"
url = "http://six.test:{DUAL}/"
interval = "1s"
fail_if_body_not_matches = "family: ipv6"

[[target]]
name = "six-ip4"
url = "http://six.test:{DUAL}/"
interval = "1s"
ip_protocol = "ip4"
"""


class ProbeOptions(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="connwatch-probe-options-")
        cls.server = None
        cls.agent = None
        make_certificates(cls.dir)
        os.makedirs(ETC, exist_ok=True)
        with open(f"{ETC}/hosts", "w") as f:
            f.write("127.0.0.1 localhost\n::1 localhost\n"
                    "::1 dual.test\n127.0.0.1 dual.test\nfd00:cafe::1 six.test\n")
        run("ip", "netns", "add", NS)
        run("ip", "-n", NS, "link", "set", "lo", "up")
        # Not ::1: glibc answers an IPv4 lookup of a ::1 hosts entry with 127.0.0.1.
        run("ip", "-n", NS, "addr", "add", "fd00:cafe::1/128", "dev", "lo", "nodad")
        cls.server = subprocess.Popen(
            ["ip", "netns", "exec", NS, sys.executable, "-u",
             os.path.join(os.path.dirname(os.path.abspath(__file__)), "probe_options_server.py"),
             cls.dir, *map(str, (ECHO, TLS, MTLS, DUAL, V4ONLY))],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        line = cls.server.stdout.readline()
        if line.strip() != "ready":
            raise AssertionError(f"servers did not start: {line}{cls.server.stdout.read()}")
        cls.agent = AgentProcess(config(cls.dir), netns=NS).wait_healthy()
        time.sleep(3.5)  # three or four probes of each target, 1 s apart
        cls.m = cls.agent.metrics()

    @classmethod
    def tearDownClass(cls):
        if cls.agent:
            cls.agent.close()
        if cls.server:
            cls.server.kill()
            cls.server.wait()
        subprocess.run(["ip", "netns", "del", NS], capture_output=True)
        shutil.rmtree(ETC, ignore_errors=True)
        shutil.rmtree(cls.dir, ignore_errors=True)

    def value(self, name, **labels):
        return sample(self.m, name, **labels) or 0

    def only(self, target, outcome):
        counts = {o: self.value("connwatch_probe_attempts_total", target=target, outcome=o)
                  for o in OUTCOMES}
        self.assertGreaterEqual(counts[outcome], 2, f"{target}: {counts}\n{self.agent.output()}")
        self.assertEqual(sum(counts.values()), counts[outcome], f"{target}: {counts}")
        self.assertEqual(self.value("connwatch_probe_success", target=target),
                         1 if outcome == "success" else 0, target)

    def test_https_with_the_tests_ca_succeeds_and_keeps_its_connection(self):
        self.only("tls-ca", "success")
        self.assertEqual(self.value("connwatch_pool_connections_opened_total", target="tls-ca"), 1)

    def test_https_without_the_ca_or_with_another_name_is_a_tls_error(self):
        self.only("tls-system-store", "tls_error")
        self.only("tls-wrong-name", "tls_error")

    def test_insecure_skip_verify_accepts_an_unknown_ca(self):
        self.only("tls-skip-verify", "success")

    def test_mtls_succeeds_with_the_client_certificate_and_fails_without(self):
        self.only("mtls", "success")
        self.only("mtls-without-cert", "tls_error")

    def test_headers_and_body_reach_the_server(self):
        # The regex checks Host and X-Probe arrived as configured, and the body with them.
        self.only("echo", "success")

    def test_a_body_that_does_not_match_is_body_mismatch_and_not_retried(self):
        self.only("echo-mismatch", "body_mismatch")
        self.assertGreaterEqual(self.value("connwatch_probe_results_total",
                                           target="echo-mismatch", result="not_retryable"), 2)
        self.assertEqual(self.value("connwatch_probe_retries_total", target="echo-mismatch"), 0)
        self.assertEqual(self.value("connwatch_probe_http_status_code", target="echo-mismatch"),
                         200)

    def test_ip_protocol_picks_the_family_of_a_dual_stack_name(self):
        self.only("dual-ip6", "success")
        self.only("dual-ip4", "success")
        self.only("dual-auto", "success")  # IPv6 first

    def test_auto_falls_back_to_ipv4_when_ipv6_refuses(self):
        self.only("auto-falls-back-to-ip4", "success")

    def test_an_ipv6_only_name_works_with_auto_and_is_a_dns_error_with_ip4(self):
        self.only("six-auto", "success")
        self.only("six-ip4", "dns_error")

    def test_landing_page_says_why_the_body_check_failed(self):
        status, body, _ = self.agent.get("/")
        self.assertEqual(status, 200)
        self.assertIn("fail_if_body_not_matches", body)


if __name__ == "__main__":
    if os.geteuid() != 0:
        skip("needs root for a network namespace and /etc/netns")
    for tool in ("ip", "openssl", "curl"):
        if shutil.which(tool) is None:
            skip(f"{tool} not installed")
    if not os.path.exists("/proc/sys/net/ipv6"):
        skip("IPv6 is disabled in this kernel")
    unittest.main(verbosity=2)
