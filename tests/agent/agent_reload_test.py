#!/usr/bin/env python3
"""Reloads keep capture (issue 21 item 2). As root, a reload to another interface opens the new
handle before the old one goes and keeps the flows, peers and counts; one that cannot be opened
fails and keeps the old capture; disabling and enabling capture keeps the counts too.

After the privilege drop: started as root with [agent] user =
"nobody", the agent reloads new [capture] ports in place on its running capture (SIGHUP and
POST /-/reload alike), and refused connections then count under the new port; every thread still
holds no capability. A reload it cannot apply (the file unreadable, its directory untraversable,
another interface that needs CAP_NET_RAW to open) is a failed reload: the agent keeps running and
counting with the old config, connwatch_config_last_reload_successful 0, and says why. No peer
series and no reset count ever goes down across a reload. Needs root and the lab; exits 77
without them."""
import os
import signal
import unittest

import lab
from support import AgentProcess, sample, wait_until

ABORT, OLD, NEW1, NEW2 = 8490, 8491, 8492, 8493
N = 20


def status_fields(path):
    with open(path) as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)



def config(ports, interface="any", user="nobody", enabled=True):
    agent = f'[agent]\nuser = "{user}"\ngroup = "nogroup"\n' if user else ""
    return f"""{agent}
[capture]
enabled = {"true" if enabled else "false"}
interface = "{interface}"
ports = [{", ".join(str(p) for p in ports)}]
max_peers = 5
"""


class ReloadAfterTheDrop(unittest.TestCase):
    def setUp(self):
        self.peer_high = {}  # peer label -> highest total seen

    def handshake_resets(self, m, port):
        return sample(m, "connwatch_tcp_resets_total", sender="server", phase="handshake",
                      port=str(port)) or 0

    def check_peers_never_drop(self, m):
        totals = {}
        for (name, labels), v in m.items():
            if name == "connwatch_tcp_peer_resets_total":
                peer = dict(labels)["peer"]
                totals[peer] = totals.get(peer, 0) + v
        total = sum(totals.values())
        self.assertGreaterEqual(total, self.peer_high.get("*sum*", 0), "sum of peer resets dropped")
        self.peer_high["*sum*"] = total
        for peer, v in totals.items():
            self.assertGreaterEqual(v, self.peer_high.get(peer, 0), f"peer {peer} dropped")
            self.peer_high[peer] = v

    def assert_no_thread_holds_a_capability(self, pid):
        tasks = os.listdir(f"/proc/{pid}/task")
        self.assertGreaterEqual(len(tasks), 3)  # io, capture, kernel
        for task in tasks:
            fields = status_fields(f"/proc/{pid}/task/{task}/status")
            for cap in ("CapInh", "CapPrm", "CapEff", "CapAmb"):
                self.assertEqual(int(fields[cap], 16), 0, f"task {task} {cap}")
            self.assertEqual(fields["NoNewPrivs"], "1", f"task {task}")
            self.assertEqual(set(fields["Uid"].split()), {"65534"}, f"task {task}")

    def refused_counted(self, L, agent, n, port):
        """n refused connects to `port`: n more server handshake resets on that port label."""
        before = self.handshake_resets(agent.metrics(), port)
        made = L.refused(n, port)
        self.assertEqual(made["refused"], n, made)
        wait_until(lambda: self.handshake_resets(agent.metrics(), port) >= before + n)
        m = agent.metrics()
        self.assertEqual(self.handshake_resets(m, port), before + n, f"port {port}")
        self.assertEqual(sample(m, "connwatch_capture_up"), 1)
        self.check_peers_never_drop(m)
        return m

    def reloaded_by_sighup(self, agent, ok):
        marker = "config reloaded from" if ok else "config reload failed"
        before = agent.output().count(marker)
        agent.send_signal(signal.SIGHUP)
        self.assertTrue(wait_until(lambda: agent.output().count(marker) > before),
                        agent.output())
        self.assertIsNone(agent.proc.poll(), agent.output())

    def test_reloads_as_root_move_the_capture_and_keep_its_counts(self):
        with lab.Lab() as L:
            L.start_server("rst-after-accept", ABORT)
            with AgentProcess(config([ABORT], user=None), netns=L.client_ns) as agent:
                agent.wait_healthy()
                self.assertTrue(wait_until(
                    lambda: sample(agent.metrics(), "connwatch_capture_up") == 1))
                self.assertEqual(L.resets(5, ABORT)["reset"], 5)
                self.assertTrue(wait_until(lambda: sample(
                    agent.metrics(), "connwatch_tcp_peer_resets_total", peer=L.server_ip,
                    sender="server") == 5))
                self.check_peers_never_drop(agent.metrics())

                # Another interface and a new port: a new handle, same flows, peers and counts.
                agent.write_config(config([ABORT, NEW1], interface=L.client_if, user=None))
                status, body, _ = agent.post("/-/reload")
                self.assertEqual(status, 200, body)
                self.assertIn(f"passive capture reopened on {L.client_if}", agent.output())
                m = self.refused_counted(L, agent, N, NEW1)
                self.assertEqual(sample(m, "connwatch_tcp_resets_total", sender="server",
                                        phase="established", port=str(ABORT)), 5)
                self.assertEqual(sample(m, "connwatch_tcp_peer_resets_total", peer=L.server_ip,
                                        sender="server"), 5 + N)

                # An interface that does not exist: the reload fails, the old capture runs on.
                agent.write_config(config([ABORT, NEW1], interface="cwnosuch0", user=None))
                status, body, _ = agent.post("/-/reload")
                self.assertEqual(status, 500)
                self.assertIn("cwnosuch0", body)
                self.assertIn(f"the capture on {L.client_if} keeps running", body)
                m = self.refused_counted(L, agent, 5, NEW1)
                self.assertEqual(sample(m, "connwatch_config_last_reload_successful"), 0)

                # Disabled, then enabled again: down meanwhile, the counts kept.
                agent.write_config(config([ABORT, NEW1], user=None, enabled=False))
                self.assertEqual(agent.post("/-/reload")[0], 200)
                self.assertEqual(sample(agent.metrics(), "connwatch_capture_up"), 0)
                agent.write_config(config([ABORT, NEW1], user=None))
                self.assertEqual(agent.post("/-/reload")[0], 200)
                m = self.refused_counted(L, agent, 5, NEW1)
                self.assertEqual(self.handshake_resets(m, NEW1), N + 10)
                code, _ = agent.stop()
                self.assertEqual(code, 0, agent.output())

    def test_reloads_as_nobody_keep_capture_and_never_escape(self):
        with lab.Lab() as L:
            L.start_server("rst-after-accept", ABORT)
            with AgentProcess(config([ABORT, OLD]), netns=L.client_ns) as agent:
                # Readable by nobody, as docs/DEPLOY.md says it must stay.
                os.chmod(agent.dir, 0o755)
                os.chmod(agent.config_path, 0o644)
                agent.wait_healthy()
                self.assertTrue(wait_until(lambda: "no capabilities" in agent.output()))
                self.assertTrue(wait_until(
                    lambda: sample(agent.metrics(), "connwatch_capture_up") == 1))
                pid = agent.proc.pid
                made = L.resets(5, ABORT)
                self.assertEqual(made["reset"], 5)
                self.assertTrue(wait_until(lambda: sample(
                    agent.metrics(), "connwatch_tcp_peer_resets_total", peer=L.server_ip,
                    sender="server") == 5))
                self.check_peers_never_drop(agent.metrics())

                # New ports by SIGHUP: applied in place, counted under the new label.
                other_before = self.handshake_resets(agent.metrics(), "other")
                agent.write_config(config([ABORT, NEW1]))
                self.reloaded_by_sighup(agent, ok=True)
                m = self.refused_counted(L, agent, N, NEW1)
                self.assertEqual(self.handshake_resets(m, "other"), other_before)
                self.assertEqual(sample(m, "connwatch_config_last_reload_successful"), 1)
                self.assertEqual(sample(m, "connwatch_tcp_peer_resets_total", peer=L.server_ip,
                                        sender="server"), 5 + N)
                self.assert_no_thread_holds_a_capability(pid)

                # New ports by POST /-/reload.
                agent.write_config(config([ABORT, NEW2]))
                status, body, _ = agent.post("/-/reload")
                self.assertEqual(status, 200, body)
                self.refused_counted(L, agent, N, NEW2)
                self.assert_no_thread_holds_a_capability(pid)

                # The file unreadable by nobody: a failed reload, by POST and by SIGHUP.
                os.chmod(agent.config_path, 0o600)
                status, body, _ = agent.post("/-/reload")
                self.assertEqual(status, 500)
                self.assertIn("cannot read config file", body)
                self.assertIn("readable by [agent] user", body)
                self.reloaded_by_sighup(agent, ok=False)
                m = self.refused_counted(L, agent, 5, NEW2)
                self.assertEqual(sample(m, "connwatch_config_last_reload_successful"), 0)

                # Readable again: the reload works and says so.
                os.chmod(agent.config_path, 0o644)
                self.assertEqual(agent.post("/-/reload")[0], 200)
                self.assertEqual(sample(agent.metrics(),
                                        "connwatch_config_last_reload_successful"), 1)

                # Its directory untraversable (an /etc/connwatch of mode 0700): this aborted the
                # agent with an uncaught filesystem_error before.
                os.chmod(agent.dir, 0o700)
                self.reloaded_by_sighup(agent, ok=False)
                status, body, _ = agent.post("/-/reload")
                self.assertEqual(status, 500)
                self.assertIn("Permission denied", body)
                m = self.refused_counted(L, agent, 5, NEW2)
                self.assertEqual(sample(m, "connwatch_config_last_reload_successful"), 0)
                os.chmod(agent.dir, 0o755)

                # Another interface needs a new handle, which nobody cannot open: the old capture
                # keeps running and counting, and the reload failed.
                agent.write_config(config([ABORT, NEW2], interface=L.client_if))
                status, body, _ = agent.post("/-/reload")
                self.assertEqual(status, 500)
                self.assertIn("cannot be opened", body)
                self.assertIn("keeps running", body)
                m = self.refused_counted(L, agent, 5, NEW2)
                self.assertEqual(sample(m, "connwatch_config_last_reload_successful"), 0)
                self.assert_no_thread_holds_a_capability(pid)

                self.assertNotIn("terminate called", agent.output())
                code, _ = agent.stop()
                self.assertEqual(code, 0, agent.output())


if __name__ == "__main__":
    lab.skip_unless_available()
    unittest.main(verbosity=2)
