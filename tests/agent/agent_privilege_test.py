#!/usr/bin/env python3
"""Least privilege: started as root with [agent] user = "nobody", the running agent has no
capabilities left in any set, runs as nobody, and still counts resets on the capture handle it
opened before the drop; its kernel tables still read. Needs root and the lab; exits 77
without them."""
import os
import time
import unittest

import lab
from support import AgentProcess, sample

ABORT = 8480


def status_fields(pid):
    with open(f"/proc/{pid}/status") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


class LeastPrivilege(unittest.TestCase):
    def test_the_running_agent_has_no_capabilities_and_still_counts_resets(self):
        with lab.Lab() as L:
            L.start_server("rst-after-accept", ABORT)
            config = f"""
[agent]
user = "nobody"
group = "nogroup"

[capture]
interface = "any"
ports = [{ABORT}]

[sockets]
interval = "1s"
"""
            with AgentProcess(config, netns=L.client_ns) as agent:
                agent.wait_healthy()
                deadline = time.monotonic() + 5
                while "no capabilities" not in agent.output() and time.monotonic() < deadline:
                    time.sleep(0.05)
                self.assertIn("running as nobody:nogroup with no capabilities", agent.output())

                # Every thread: the capture and kernel threads changed identity too.
                for task in os.listdir(f"/proc/{agent.proc.pid}/task"):
                    fields = status_fields(f"{agent.proc.pid}/task/{task}")
                    for cap in ("CapInh", "CapPrm", "CapEff", "CapAmb"):
                        self.assertEqual(int(fields[cap], 16), 0, f"task {task} {cap}")
                    if task == str(agent.proc.pid):  # no_new_privs is per thread
                        self.assertEqual(fields["NoNewPrivs"], "1")
                    uids = fields["Uid"].split()
                    self.assertEqual(set(uids), {"65534"}, f"task {task} Uid {uids}")

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
                self.assertIsNotNone(sample(m, "connwatch_sockets", state="listen"))
                code, _ = agent.stop()
                self.assertEqual(code, 0)

    def test_an_unknown_user_is_a_config_error(self):
        with AgentProcess('[agent]\nuser = "no-such-connwatch-user"\n') as agent:
            self.assertEqual(agent.proc.wait(timeout=10), 2)
            self.assertRegex(agent.output(),
                             r"agent\.toml:2:8: agent\.user: no such user \"no-such-connwatch-user\"")


if __name__ == "__main__":
    lab.skip_unless_available()
    unittest.main(verbosity=2)
