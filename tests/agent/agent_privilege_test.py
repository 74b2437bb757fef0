#!/usr/bin/env python3
"""Least privilege, both ways docs/DEPLOY.md gives: started as root with [agent] user = "nobody",
or started as nobody from a binary with file capabilities (setcap cap_net_raw,cap_net_admin+ep)
and the same [agent] user (issue 21 item 3: this failed with "setgroups: Operation not
permitted"). Either way the running agent has no capability left in any set on any thread, has
no_new_privs on every thread, runs as nobody, and still counts resets on the capture handle it
opened before the drop; its kernel tables still read. Needs root and the lab; exits 77 without
them; the file capabilities test skips without setcap (libcap2-bin)."""
import os
import shutil
import subprocess
import tempfile
import time
import unittest

import lab
from support import AGENT, AgentProcess, sample

ABORT = 8480
CONFIG = f"""
[agent]
user = "nobody"
group = "nogroup"

[capture]
interface = "any"
ports = [{ABORT}]

[sockets]
interval = "1s"
namespaces = "self"
"""


def status_fields(pid):
    with open(f"/proc/{pid}/status") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


class LeastPrivilege(unittest.TestCase):
    def check_running_agent(self, L, agent, identity_changed):
        agent.wait_healthy()
        deadline = time.monotonic() + 5
        while "no capabilities" not in agent.output() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertIn("running as nobody:nogroup with no capabilities on any of its",
                      agent.output())
        self.assertEqual("already that user" not in agent.output(), identity_changed,
                         agent.output())

        # Every thread: capability sets and no_new_privs are per thread, and the capture and
        # kernel threads started before the drop.
        tasks = os.listdir(f"/proc/{agent.proc.pid}/task")
        self.assertGreaterEqual(len(tasks), 3)
        for task in tasks:
            fields = status_fields(f"{agent.proc.pid}/task/{task}")
            for cap in ("CapInh", "CapPrm", "CapEff", "CapAmb"):
                self.assertEqual(int(fields[cap], 16), 0, f"task {task} {cap}")
            self.assertEqual(fields["NoNewPrivs"], "1", f"task {task}")
            uids = fields["Uid"].split()
            self.assertEqual(set(uids), {"65534"}, f"task {task} Uid {uids}")
            self.assertEqual(set(fields["Gid"].split()), {"65534"}, f"task {task}")

        made = L.resets(25, ABORT)
        self.assertEqual(made["reset"], 25)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            m = agent.metrics()
            counted = sum(v for (name, labels), v in m.items()
                          if name == "connwatch_tcp_resets_total"
                          and ("port", str(ABORT)) in labels)
            if counted >= 25:
                break
            time.sleep(0.2)
        self.assertEqual(counted, 25)
        self.assertEqual(sample(m, "connwatch_capture_up"), 1)
        # sock_diag and /proc still read as nobody: no collector errors.
        errors = sum(v for (name, _), v in m.items()
                     if name == "connwatch_kernel_collector_errors_total")
        self.assertEqual(errors, 0, [k for k in m if "collector_errors" in k[0]])
        self.assertIsNotNone(sample(m, "connwatch_sockets", state="listen", netns=L.client_ns))
        code, _ = agent.stop()
        self.assertEqual(code, 0, agent.output())

    def test_the_running_agent_has_no_capabilities_and_still_counts_resets(self):
        with lab.Lab() as L:
            L.start_server("rst-after-accept", ABORT)
            with AgentProcess(CONFIG, netns=L.client_ns) as agent:
                self.check_running_agent(L, agent, identity_changed=True)

    def test_two_capture_threads_drop_their_capabilities_too(self):
        # capture.threads = 2: both capture threads are created before the drop, by the thread
        # that drops, and end with no capability like the others.
        with lab.Lab() as L:
            L.start_server("rst-after-accept", ABORT)
            config = CONFIG.replace('interface = "any"',
                                    f'interface = "{L.client_if}"\nthreads = 2')
            with AgentProcess(config, netns=L.client_ns) as agent:
                self.check_running_agent(L, agent, identity_changed=True)
                self.assertIn("2 threads in PACKET_FANOUT group", agent.output())

    def test_file_capabilities_as_the_configured_user_drop_only_capabilities(self):
        for tool, package in (("setcap", "libcap2-bin"), ("setpriv", "util-linux")):
            if shutil.which(tool) is None:
                self.skipTest(f"{tool} not installed ({package}; scripts/install-deps.sh "
                              "installs it)")
        bindir = tempfile.mkdtemp(prefix="connwatch-setcap-")
        try:
            os.chmod(bindir, 0o755)
            binary = os.path.join(bindir, "agent")
            shutil.copy2(AGENT, binary)
            result = subprocess.run(["setcap", "cap_net_raw,cap_net_admin+ep", binary],
                                    capture_output=True, text=True)
            if result.returncode != 0:
                self.skipTest(f"setcap failed here (no xattrs?): {result.stderr.strip()}")
            with lab.Lab() as L:
                L.start_server("rst-after-accept", ABORT)
                with AgentProcess(CONFIG, netns=L.client_ns, agent=binary,
                                  run_as=("nobody", "nogroup")) as agent:
                    self.check_running_agent(L, agent, identity_changed=False)
        finally:
            shutil.rmtree(bindir, ignore_errors=True)

    def test_an_unknown_user_is_a_config_error(self):
        with AgentProcess('[agent]\nuser = "no-such-connwatch-user"\n') as agent:
            self.assertEqual(agent.proc.wait(timeout=10), 2)
            self.assertRegex(agent.output(),
                             r"agent\.toml:2:8: agent\.user: no such user \"no-such-connwatch-user\"")


if __name__ == "__main__":
    lab.skip_unless_available()
    unittest.main(verbosity=2)
