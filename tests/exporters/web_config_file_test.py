#!/usr/bin/env python3
"""Issue 18 item 2: [web] config_file, the exporter-toolkit web configuration, on the real agent.

Checked with curl and Python's ssl as Prometheus would meet it: mTLS accepts the client
certificate signed by client_ca_file and refuses a connection without one or with a certificate
from another CA; a certificate swapped on disk is served to the next connection without a
restart; the exporter-toolkit sample file (relative cert paths, a `$2y$` bcrypt user) works
unchanged; a broken edit is logged with file:line and the last good configuration keeps serving,
and the fixed file with a new user applies at once; a bad file at startup stops the agent."""
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import unittest
from pathlib import Path

from support import AgentProcess, skip

# bcrypt of "s3cret" (as in tests/exporters/basic_auth_test.cpp), with htpasswd's $2y$ prefix.
BCRYPT = "$2y$10$g7Rg6TcS4wma1Nvd878wmu6vx4xHkFpIhrCXCni0yC2pCgEeQtj8G"
# openssl passwd -5 -salt connwatchsalt s3cret (fast to verify)
SHA256 = "$5$connwatchsalt$II6OmsN6zb36FMD9oRDnSxKuPUQ/p2kqi5OOONcVLZ0"
BASE = "[capture]\nenabled = false\n[sockets]\nenabled = false\n"


def openssl(*args):
    proc = subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def make_ca(d, name):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-days", "2", "-subj", f"/CN={name}", "-keyout", str(d / f"{name}.key"),
            "-out", str(d / f"{name}.crt"))


def make_cert(d, name, ca, san):
    """A leaf certificate for `name` signed by `ca`, with the subjectAltName given."""
    key, csr, crt = d / f"{name}.key", d / f"{name}.csr", d / f"{name}.crt"
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-subj", f"/CN={name}", "-keyout", str(key), "-out", str(csr))
    ext = d / f"{name}.ext"
    ext.write_text(f"subjectAltName={san}\n")
    openssl("x509", "-req", "-in", str(csr), "-CA", str(d / f"{ca}.crt"), "-CAkey",
            str(d / f"{ca}.key"), "-CAcreateserial", "-days", "2", "-extfile", str(ext),
            "-out", str(crt))


def curl(*args):
    proc = subprocess.run(["curl", "-sS", "--max-time", "5", "-o", "/dev/null", "-w",
                           "%{http_code}", *args], capture_output=True, text=True, timeout=20)
    return proc.returncode, proc.stdout, proc.stderr


def served_certificate(port):
    """The DER certificate the agent presents to a new TLS connection."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with context.wrap_socket(raw) as tls:
            return tls.getpeercert(binary_form=True)


def der(path):
    return ssl.PEM_cert_to_DER_cert(Path(path).read_text())


class WebConfigFile(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = Path(tempfile.mkdtemp(prefix="connwatch-webcfg-"))
        d = cls.dir
        make_ca(d, "ca")
        make_ca(d, "otherca")
        make_cert(d, "server", "ca", "IP:127.0.0.1,DNS:localhost")
        make_cert(d, "server2", "ca", "IP:127.0.0.1,DNS:localhost")
        make_cert(d, "prometheus", "ca", "DNS:prometheus.example")
        make_cert(d, "intruder", "otherca", "DNS:prometheus.example")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def agent(self, web_yaml, name="web.yml"):
        path = self.dir / name
        path.write_text(web_yaml)
        return AgentProcess(BASE + f'[web]\nconfig_file = "{path}"\n'), path

    def wait_listening(self, agent):
        for _ in range(100):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", agent.port)) == 0:
                    return
            if agent.proc.poll() is not None:
                self.fail(f"agent exited {agent.proc.returncode}:\n{agent.output()}")
            time.sleep(0.05)
        self.fail("agent did not listen:\n" + agent.output())

    def test_mtls_accepts_the_right_client_certificate_and_refuses_others(self):
        d = self.dir
        agent, _ = self.agent(f"""tls_server_config:
  cert_file: server.crt
  key_file: server.key
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: ca.crt
  client_allowed_sans: [prometheus.example]
""")
        with agent:
            self.wait_listening(agent)
            url = f"https://127.0.0.1:{agent.port}/metrics"
            ok = curl("--cacert", str(d / "ca.crt"), "--cert", str(d / "prometheus.crt"),
                      "--key", str(d / "prometheus.key"), url)
            self.assertEqual(ok[1], "200", ok)
            rc, code, err = curl("--cacert", str(d / "ca.crt"), url)
            self.assertNotEqual(rc, 0, "no client certificate must be refused")
            self.assertEqual(code, "000", err)
            rc, code, err = curl("--cacert", str(d / "ca.crt"), "--cert",
                                 str(d / "intruder.crt"), "--key", str(d / "intruder.key"), url)
            self.assertNotEqual(rc, 0, "a certificate from another CA must be refused")
            # Signed by the right CA but without an allowed SAN: refused too.
            rc, code, err = curl("--cacert", str(d / "ca.crt"), "--cert",
                                 str(d / "server.crt"), "--key", str(d / "server.key"), url)
            self.assertNotEqual(rc, 0, "client_allowed_sans must be enforced")
            ok = curl("--cacert", str(d / "ca.crt"), "--cert", str(d / "prometheus.crt"),
                      "--key", str(d / "prometheus.key"), url)
            self.assertEqual(ok[1], "200", ok)

    def test_a_certificate_swapped_on_disk_is_served_to_the_next_connection(self):
        d = self.dir
        live_crt, live_key = d / "live.crt", d / "live.key"
        shutil.copy(d / "server.crt", live_crt)
        shutil.copy(d / "server.key", live_key)
        agent, _ = self.agent(f"tls_server_config:\n  cert_file: {live_crt}\n"
                              f"  key_file: {live_key}\n", "swap.yml")
        with agent:
            self.wait_listening(agent)
            self.assertEqual(served_certificate(agent.port), der(d / "server.crt"))
            # Rotated as cert-manager or certbot do: new files renamed over the old ones.
            shutil.copy(d / "server2.key", d / "live.key.new")
            shutil.copy(d / "server2.crt", d / "live.crt.new")
            (d / "live.key.new").rename(live_key)
            (d / "live.crt.new").rename(live_crt)
            self.assertEqual(served_certificate(agent.port), der(d / "server2.crt"))
            # Rewritten in place (cp over it) works as well.
            shutil.copy(d / "server.key", live_key)
            shutil.copy(d / "server.crt", live_crt)
            self.assertEqual(served_certificate(agent.port), der(d / "server.crt"))
            self.assertIsNone(agent.proc.poll())
            self.assertIn("web config reloaded", agent.output())

    def test_the_exporter_toolkit_sample_file_works_unchanged(self):
        sub = self.dir / "node_exporter"
        sub.mkdir(exist_ok=True)
        shutil.copy(self.dir / "server.crt", sub / "server.crt")
        shutil.copy(self.dir / "server.key", sub / "server.key")
        # exporter-toolkit's docs/web-config.yml, paths relative to the file, as node_exporter
        # reads it with --web.config.file.
        agent, _ = self.agent(f"""# TLS and basic authentication configuration example.
#
# Additionally, a certificate and a key file are needed.
tls_server_config:
  cert_file: server.crt
  key_file: server.key

# Usernames and passwords required to connect.
# Passwords are hashed with bcrypt: https://github.com/prometheus/exporter-toolkit/blob/master/docs/web-configuration.md#about-bcrypt.
basic_auth_users:
  alice: {BCRYPT}
""", "node_exporter/web-config.yml")
        with agent:
            self.wait_listening(agent)
            url = f"https://127.0.0.1:{agent.port}/metrics"
            ca = str(self.dir / "ca.crt")
            self.assertEqual(curl("--cacert", ca, "-u", "alice:s3cret", url)[1], "200")
            self.assertEqual(curl("--cacert", ca, "-u", "alice:wrong", url)[1], "401")
            self.assertEqual(curl("--cacert", ca, url)[1], "401")

    def test_a_broken_edit_keeps_the_last_good_config_and_a_fixed_one_applies(self):
        agent, path = self.agent(f"basic_auth_users:\n  prometheus: '{SHA256}'\n", "edit.yml")
        with agent:
            self.wait_listening(agent)
            url = f"http://127.0.0.1:{agent.port}/metrics"
            self.assertEqual(curl("-u", "prometheus:s3cret", url)[1], "200")
            self.assertEqual(curl(url)[1], "401")
            # A typo: the file is refused, the agent keeps the users it had.
            path.write_text(f"basic_auth_users:\n  prometheus: '{SHA256}'\nbasic_auth_user: {{}}\n")
            self.assertEqual(curl(url)[1], "401")
            self.assertEqual(curl("-u", "prometheus:s3cret", url)[1], "200")
            self.assertIn(f"{path}:3:1: basic_auth_user: unknown key", agent.output())
            self.assertIn("keeping the last good one", agent.output())
            # Broken YAML, then a certificate that does not exist: the same.
            path.write_text("basic_auth_users: [\n")
            self.assertEqual(curl("-u", "prometheus:s3cret", url)[1], "200")
            path.write_text("tls_server_config:\n  cert_file: /nonexistent.crt\n"
                            "  key_file: /nonexistent.key\n")
            self.assertEqual(curl("-u", "prometheus:s3cret", url)[1], "200")
            self.assertIn("tls_server_config.cert_file /nonexistent.crt: cannot read",
                          agent.output())
            # Fixed, with a new user: applies to the next request, no restart.
            path.write_text(f"basic_auth_users:\n  prometheus: '{SHA256}'\n"
                            f"  grafana: '{SHA256}'\n")
            self.assertEqual(curl("-u", "grafana:s3cret", url)[1], "200")
            self.assertEqual(curl("-u", "prometheus:s3cret", url)[1], "200")
            self.assertIsNone(agent.proc.poll())

    def test_a_bad_file_at_startup_stops_the_agent_naming_file_and_line(self):
        agent, path = self.agent("tls_server_config:\n  cert_file: server.crt\n"
                                 "  key_file: server.key\n  min_versoin: TLS12\n", "bad.yml")
        with agent:
            self.assertEqual(agent.proc.wait(timeout=10), 3)
            self.assertIn(f"{path}:4:3: tls_server_config.min_versoin: unknown key",
                          agent.output())

    def test_the_web_config_file_flag_reads_the_same_file(self):
        path = self.dir / "flag.yml"
        path.write_text(f"basic_auth_users:\n  prometheus: '{SHA256}'\n")
        with AgentProcess(BASE, args=["--web.config.file", str(path)]) as agent:
            self.wait_listening(agent)
            url = f"http://127.0.0.1:{agent.port}/metrics"
            self.assertEqual(curl(url)[1], "401")
            self.assertEqual(curl("-u", "prometheus:s3cret", url)[1], "200")

    def test_config_file_and_the_inline_keys_exclude_each_other(self):
        path = self.dir / "web.yml"
        path.write_text("")
        with AgentProcess(BASE + f'[web]\nconfig_file = "{path}"\n'
                          f'basic_auth_users = {{ p = "{SHA256}" }}\n') as agent:
            self.assertEqual(agent.proc.wait(timeout=10), 2)
            self.assertIn("web.config_file: config_file and tls_cert/tls_key/basic_auth_users "
                          "exclude each other", agent.output())


if __name__ == "__main__":
    if not shutil.which("curl") or not shutil.which("openssl"):
        skip("curl and openssl are needed (scripts/install-deps.sh installs them)")
    unittest.main(verbosity=2)
