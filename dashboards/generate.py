#!/usr/bin/env python3
"""Writes the Grafana dashboards under dashboards/grafana/ from the definitions below.

The JSON is committed (Grafana imports it as is); this file is the readable source. After an
edit run `python3 dashboards/generate.py`; the test suite fails while the committed JSON differs
from what this prints (`--check`).

Every panel says what it shows and what a bad value means, has a unit, and queries through the
`${datasource}` variable with `instance` (and, on Probes, `target`) filters.
"""
import argparse
import json
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
DS = {"type": "prometheus", "uid": "${datasource}"}
I = 'job=~"$job", instance=~"$instance"'
IT = 'job=~"$job", instance=~"$instance", target=~"$target"'
# Sockets: the kernel families carry `netns` (SPEC §4). Its "All" is ".*" so a host whose agent
# reads only its own namespace (no netns label) still shows.
IN = 'job=~"$job", instance=~"$instance", netns=~"$netns"'


def query_variable(name, label, query, all_value=".+"):
    return {"name": name, "label": label, "type": "query", "datasource": DS,
            "query": {"query": query, "refId": name}, "definition": query,
            "multi": True, "includeAll": True, "allValue": all_value, "refresh": 2, "sort": 1,
            "current": {}, "hide": 0}


def variables(with_target=False, with_netns=False):
    """datasource, job, instance (of that job), and per dashboard target or netns."""
    v = [
        {"name": "datasource", "label": "Data source", "type": "datasource",
         "query": "prometheus", "current": {}, "hide": 0, "refresh": 1},
        query_variable("job", "Job", "label_values(connwatch_build_info, job)"),
        query_variable("instance", "Instance",
                       'label_values(connwatch_build_info{job=~"$job"}, instance)'),
    ]
    if with_target:
        v.append(query_variable(
            "target", "Target",
            'label_values(connwatch_probe_success{job=~"$job", instance=~"$instance"}, target)'))
    if with_netns:
        v.append(query_variable(
            "netns", "Network namespace",
            'label_values(connwatch_sockets{job=~"$job", instance=~"$instance"}, netns)',
            all_value=".*"))
    return v


class Dashboard:
    def __init__(self, uid, title, description, with_target=False, with_netns=False):
        self.uid, self.title, self.description = uid, title, description
        self.with_target, self.with_netns = with_target, with_netns
        self.panels = []
        self.y = 0
        self.x = 0
        self.row_height = 0

    def row(self, title):
        self._newline()
        self.panels.append({"type": "row", "title": title, "collapsed": False,
                            "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y},
                            "id": len(self.panels) + 1, "panels": []})
        self.y += 1

    def _newline(self):
        if self.x:
            self.y += self.row_height
            self.x, self.row_height = 0, 0

    def panel(self, kind, title, description, targets, unit, w=12, h=8, thresholds=None,
              legend=True, options=None, field=None, min_=None, max_=None):
        if self.x + w > 24:
            self._newline()
        steps = [{"color": "green", "value": None}]
        for value, color in (thresholds or []):
            steps.append({"color": color, "value": value})
        defaults = {"unit": unit,
                    "thresholds": {"mode": "absolute", "steps": steps},
                    "color": {"mode": "palette-classic" if kind == "timeseries"
                              else "thresholds"}}
        if min_ is not None:
            defaults["min"] = min_
        if max_ is not None:
            defaults["max"] = max_
        if kind == "timeseries":
            defaults["custom"] = {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10,
                                  "showPoints": "never", "spanNulls": False,
                                  "thresholdsStyle": {"mode": "line" if thresholds else "off"}}
        defaults.update(field or {})
        p = {
            "type": kind, "title": title, "description": description, "datasource": DS,
            "id": len(self.panels) + 1,
            "gridPos": {"h": h, "w": w, "x": self.x, "y": self.y},
            "fieldConfig": {"defaults": defaults, "overrides": []},
            "targets": [dict(datasource=DS, refId=chr(ord("A") + i), **t)
                        for i, t in enumerate(targets)],
            "options": options or ({"legend": {"displayMode": "table", "placement": "right",
                                               "calcs": ["lastNotNull", "max"],
                                               "showLegend": legend},
                                    "tooltip": {"mode": "multi", "sort": "desc"}}
                                   if kind == "timeseries" else {}),
        }
        self.panels.append(p)
        self.x += w
        self.row_height = max(self.row_height, h)

    def json(self):
        return {
            "uid": self.uid, "title": self.title, "description": self.description,
            "tags": ["connwatch", "tcp"], "timezone": "browser", "editable": True,
            "schemaVersion": 39, "version": 1, "refresh": "30s",
            "time": {"from": "now-1h", "to": "now"},
            "graphTooltip": 1,
            "templating": {"list": variables(self.with_target, self.with_netns)},
            "annotations": {"list": []},
            # To the other connwatch dashboards, keeping the time range and the variables
            # (job, instance, ...) the user picked.
            "links": [{"title": "connwatch", "type": "dashboards", "tags": ["connwatch"],
                       "asDropdown": True, "keepTime": True, "includeVars": True}],
            "panels": self.panels,
        }


def q(expr, legend=None, **extra):
    t = {"expr": expr, "range": True, "instant": False}
    if legend:
        t["legendFormat"] = legend
    t.update(extra)
    return t


def resets():
    d = Dashboard("connwatch-resets", "connwatch / Resets",
                  "TCP resets and TIME_WAIT entries seen on the wire by passive capture.")
    d.row("Resets")
    d.panel("timeseries", "Reset rate by sender and phase",
            "RSTs per second by who sent them (client = the SYN sender) and when: handshake "
            "(connection refused), established (an abort mid-connection), closing (after a "
            "FIN). A jump in server/established means servers abort connections; "
            "server/handshake means nothing listens.",
            [q(f'sum by (sender, phase) (instance_sender_phase:connwatch_tcp_resets:rate1m{{{I}}})',
               "{{sender}} / {{phase}}")], "reqps", w=16)
    d.panel("stat", "Resets per new connection",
            "Resets divided by handshakes seen over 5 minutes. Above 0.05 (one connection in "
            "twenty ends in an RST) something is wrong: see the alert ConnwatchResetRatioHigh.",
            [q(f'max(instance:connwatch_tcp_reset_ratio:rate5m{{{I}}})')], "percentunit",
            w=8, thresholds=[(0.01, "yellow"), (0.05, "red")], min_=0)
    d.panel("timeseries", "Reset rate against its 1 h baseline",
            "The reset rate and its average over the last hour. The ConnwatchResetRateSpike "
            "alert fires when the rate is 3x the baseline and above 1/s.",
            [q(f'sum(instance:connwatch_tcp_resets:rate1m{{{I}}})', "now"),
             q(f'sum(instance:connwatch_tcp_resets:rate1m:avg1h{{{I}}})', "1 h baseline")],
            "reqps", w=12)
    d.panel("timeseries", "Top peers by resets",
            "The remote addresses involved in the most resets (top-K, the rest as `other`). "
            "One peer dominating points at that server or the path to it.",
            [q(f'topk(10, sum by (peer, sender) '
               f'(rate(connwatch_tcp_peer_resets_total{{{I}}}[$__rate_interval])))',
               "{{peer}} ({{sender}})")], "reqps", w=12)
    d.panel("timeseries", "Resets that look injected (TTL mismatch)",
            "RSTs whose IP TTL differs from the TTL of the same sender's earlier packets: a "
            "firewall, load balancer or NAT forged them. Any sustained value means a middlebox "
            "is cutting connections (often its idle timeout).",
            [q(f'sum by (port) (rate(connwatch_tcp_resets_suspected_middlebox_total{{{I}}}'
               f'[$__rate_interval]))', "port {{port}}")], "reqps", w=12,
            thresholds=[(0.01, "red")])
    d.panel("timeseries", "Connections closed by FIN and by RST",
            "How connections end. A healthy service closes almost everything with FIN; a "
            "growing RST share is the reset ratio above.",
            [q(f'sum by (how) (rate(connwatch_tcp_closes_total{{{I}}}[$__rate_interval]))',
               "{{how}}")], "reqps", w=12)
    d.row("TIME_WAIT")
    d.panel("timeseries", "TIME_WAIT entries by closing side",
            "Connections entering TIME_WAIT per second, by the side that closed first. Each "
            "holds a local port for 60 s; client-side entries at a high rate mean a client "
            "opening a connection per request.",
            [q(f'sum by (side, port) (rate(connwatch_tcp_time_wait_entries_total{{{I}}}'
               f'[$__rate_interval]))', "{{side}} port {{port}}")], "ops", w=12)
    d.panel("timeseries", "New connections (handshakes)",
            "Handshakes seen per second by service port: the denominator of the reset ratio.",
            [q(f'sum by (port) (rate(connwatch_tcp_connections_total{{{I}}}[$__rate_interval]))',
               "port {{port}}")], "ops", w=12)
    d.row("Capture health")
    d.panel("stat", "Capture up",
            "1 while the pcap handle is open. 0: no CAP_NET_RAW, or the interface is gone; the "
            "reset panels above are then blind.",
            [q(f'min(connwatch_capture_up{{{I}}})')], "none", w=6,
            thresholds=[(1, "green")], field={"mappings": [
                {"type": "value", "options": {"0": {"text": "down", "color": "red"},
                                              "1": {"text": "up", "color": "green"}}}]},
            options={"colorMode": "background", "reduceOptions": {"calcs": ["lastNotNull"]}})
    d.panel("timeseries", "Captured and dropped packets",
            "SYN/FIN/RST packets passed by the filter, and packets the kernel or the interface "
            "dropped. Drops mean counts are low: raise capture.buffer_size.",
            [q(f'sum(rate(connwatch_capture_packets_total{{{I}}}[$__rate_interval]))', "captured"),
             q(f'sum by (where) (rate(connwatch_capture_dropped_packets_total{{{I}}}'
               f'[$__rate_interval]))', "dropped ({{where}})")], "pps", w=12)
    d.panel("timeseries", "Tracked flows",
            "Connections in the flow table, and evictions when it is full (raise "
            "capture.max_flows if evictions are not zero).",
            [q(f'sum(connwatch_capture_flows{{{I}}})', "flows"),
             q(f'sum(rate(connwatch_capture_flows_evicted_total{{{I}}}[$__rate_interval]))',
               "evicted/s")], "short", w=6)
    return d


def sockets():
    d = Dashboard("connwatch-sockets", "connwatch / Sockets",
                  "The kernel's TCP socket tables, ephemeral ports, file descriptors and "
                  "TCP counters, read through sock_diag and /proc, per network namespace.",
                  with_netns=True)
    d.row("Socket states")
    d.panel("timeseries", "Sockets by state",
            "TCP sockets by state. Many close_wait: the local application does not close "
            "sockets the peer closed. Many syn_sent: connects hang (a firewall dropping).",
            [q(f'sum by (state) (connwatch_sockets{{{IN}}})', "{{state}}")], "short", w=12)
    d.panel("timeseries", "TIME_WAIT by destination",
            "TIME_WAIT sockets per remote ip:port (top-K). A steady climb to one destination "
            "is a client opening a connection per request.",
            [q(f'topk(10, sum by (netns, destination) (connwatch_time_wait_sockets{{{IN}}}))',
               "{{netns}} {{destination}}")], "short", w=12)
    d.row("Network namespaces")
    d.panel("timeseries", "Sockets by namespace",
            "Sockets per network namespace (host, a pod as NAMESPACE/POD, a container, an "
            "`ip netns` name). One namespace growing alone points at the pod or container "
            "inside it.",
            [q(f'topk(10, sum by (netns) (connwatch_sockets{{{IN}}}))', "{{netns}}")], "short",
            w=8)
    d.panel("timeseries", "TIME_WAIT by namespace",
            "TIME_WAIT sockets per network namespace: which pod or container churns "
            "connections.",
            [q(f'topk(10, sum by (netns) (connwatch_sockets{{{IN}, state="time_wait"}}))',
               "{{netns}}")], "short", w=8)
    d.panel("timeseries", "Highest port utilization by namespace",
            "Each namespace has its own ip_local_port_range and ports: the most used "
            "destination's share in each. At 1.0 connects from that namespace fail with "
            "EADDRNOTAVAIL.",
            [q(f'topk(10, max by (netns) (connwatch_ephemeral_port_utilization_ratio{{{IN}}}))',
               "{{netns}}")], "percentunit", w=8, thresholds=[(0.7, "orange"), (0.9, "red")],
            min_=0, max_=1)
    d.row("Ephemeral ports")
    d.panel("timeseries", "Ephemeral port utilization by destination",
            "Share of net.ipv4.ip_local_port_range used towards one destination (each "
            "connection to one ip:port needs its own local port, TIME_WAIT included). At 1.0 "
            "connect() fails with EADDRNOTAVAIL.",
            [q(f'topk(10, max by (netns, destination) '
               f'(connwatch_ephemeral_port_utilization_ratio{{{IN}}}))',
               "{{netns}} {{destination}}")],
            "percentunit", w=12, thresholds=[(0.7, "orange"), (0.9, "red")], min_=0, max_=1)
    d.panel("timeseries", "Ephemeral ports in use",
            "Local ports held per destination against the size of the range.",
            [q(f'topk(10, sum by (netns, destination) (connwatch_ephemeral_ports_in_use{{{IN}}}))',
               "{{netns}} {{destination}}"),
             q(f'max by (netns) (connwatch_ephemeral_port_range_size{{{IN}}})',
               "range size {{netns}}")], "short", w=12)
    d.row("Network quality")
    d.panel("timeseries", "Retransmission ratio by destination",
            "Retransmitted segments / segments sent per destination over 5 minutes, from each "
            "socket's tcp_info (a lower bound: sockets that close between collections are "
            "missed). Above 1% packets are lost on the path to it; see "
            "ConnwatchRetransmissionsHigh.",
            [q(f'topk(10, max by (netns, destination) '
               f'(destination:connwatch_retransmission_ratio:rate5m{{{IN}}}))',
               "{{netns}} {{destination}}")], "percentunit", w=12,
            thresholds=[(0.01, "orange"), (0.05, "red")], min_=0)
    d.panel("timeseries", "RTT by destination",
            "Smoothed round-trip time of the established sockets to each destination: mean and "
            "worst. An RTT that jumps with the retransmission ratio is a congested or lossy "
            "path.",
            [q(f'topk(10, max by (netns, destination) '
               f'(connwatch_destination_rtt_seconds{{{IN}, stat="mean"}}))',
               "mean {{netns}} {{destination}}"),
             q(f'topk(10, max by (netns, destination) '
               f'(connwatch_destination_rtt_seconds{{{IN}, stat="max"}}))',
               "max {{netns}} {{destination}}")], "s", w=12)
    d.panel("timeseries", "Retransmissions, host-wide",
            "RetransSegs / OutSegs of each namespace's kernel counters over 5 minutes: all "
            "destinations together, sockets that closed between collections included.",
            [q(f'max by (netns) (netns:connwatch_retransmission_ratio:rate5m{{{IN}}})',
               "ratio {{netns}}")], "percentunit", w=12,
            thresholds=[(0.01, "orange"), (0.05, "red")], min_=0)
    d.panel("timeseries", "SYN retransmissions and timeouts",
            "TCPSynRetrans: SYNs sent again (the peer or the path drops handshakes). "
            "TCPTimeouts: retransmission timer expiries (RTOs), each a stall of at least 200 ms. "
            "TCPLostRetransmit: a retransmission was lost too.",
            [q(f'sum by (netns, counter) (rate(connwatch_kernel_tcp_events_total{{{IN}, counter=~'
               f'"TCPSynRetrans|TCPTimeouts|TCPLostRetransmit"}}[$__rate_interval]))',
               "{{netns}} {{counter}}")], "ops", w=12)
    d.row("File descriptors and conntrack")
    d.panel("gauge", "File handles used (system)",
            "Allocated file handles against fs.file-max. Near 1.0 every process gets ENFILE.",
            [q(f'max(instance:connwatch_file_descriptors:utilization{{{I}}})')], "percentunit",
            w=6, thresholds=[(0.7, "orange"), (0.8, "red")], min_=0, max_=1,
            options={"reduceOptions": {"calcs": ["lastNotNull"]}})
    d.panel("timeseries", "File handles",
            "Allocated file handles and the system limit.",
            [q(f'sum(connwatch_file_descriptors{{{I}}})', "allocated"),
             q(f'max(connwatch_file_descriptors_limit{{{I}}})', "limit")], "short", w=6)
    d.panel("timeseries", "Conntrack table",
            "Connection-tracking entries against nf_conntrack_max (only where nf_conntrack is "
            "loaded). A full table drops new connections silently (timeouts, not resets).",
            [q(f'sum(connwatch_conntrack_entries{{{I}}})', "entries"),
             q(f'max(connwatch_conntrack_limit{{{I}}})', "limit")], "short", w=12)
    d.row("Kernel TCP counters")
    d.panel("timeseries", "Resets and aborts the kernel counted",
            "OutRsts: every RST this host sent. EstabResets: established connections reset. "
            "TCPAbortOnData: local code closed with unread data or SO_LINGER 0 (an RST to the "
            "peer). TCPAbortOnTimeout: retransmissions gave up.",
            [q(f'sum by (counter) (rate(connwatch_kernel_tcp_events_total{{{IN}, counter=~'
               f'"OutRsts|EstabResets|AttemptFails|TCPAbortOn.*"}}[$__rate_interval]))',
               "{{counter}}")], "ops", w=12)
    d.panel("timeseries", "Listen queue overflows and TIME_WAIT overflow",
            "ListenOverflows/ListenDrops: a local server accepts too slowly (raise its backlog "
            "and net.core.somaxconn). TCPTimeWaitOverflow: tcp_max_tw_buckets reached.",
            [q(f'sum by (counter) (rate(connwatch_kernel_tcp_events_total{{{IN}, counter=~'
               f'"ListenOverflows|ListenDrops|TCPTimeWaitOverflow"}}[$__rate_interval]))',
               "{{counter}}")], "ops", w=12, thresholds=[(0.01, "red")])
    return d


def probes():
    d = Dashboard("connwatch-probes", "connwatch / Probes",
                  "Active probes through a pooled client: success, latency by phase, attempt "
                  "outcomes, retries, pool reuse and the stale-connection race.",
                  with_target=True)
    d.row("Success")
    d.panel("stat", "Probe success",
            "1 when the target's last probe succeeded (retries included).",
            [q(f'min by (target) (connwatch_probe_success{{{IT}}})', "{{target}}")], "none",
            w=8, thresholds=[(1, "green")], field={"mappings": [
                {"type": "value", "options": {"0": {"text": "failing", "color": "red"},
                                              "1": {"text": "ok", "color": "green"}}}]},
            options={"colorMode": "background", "reduceOptions": {"calcs": ["lastNotNull"]}})
    d.panel("timeseries", "Attempt outcomes",
            "Attempts per second by outcome: reset (ECONNRESET/EPIPE), refused, timeout "
            "(dropped packets), addr_not_available (no local port), fd_exhausted (EMFILE)...",
            [q(f'sum by (target, outcome) (target_outcome:connwatch_probe_attempts:rate5m'
               f'{{{IT}}})', "{{target}} {{outcome}}")], "reqps", w=16)
    d.panel("timeseries", "Probe results",
            "How logical probes ended: first_try, after_retry (retries hid a failure), "
            "exhausted (all attempts failed), budget_denied (the retry budget stopped a retry "
            "storm), not_retryable.",
            [q(f'sum by (target, result) (rate(connwatch_probe_results_total{{{IT}}}'
               f'[$__rate_interval]))', "{{target}} {{result}}")], "reqps", w=12)
    d.panel("timeseries", "Retries",
            "Retries per second. Retries with backoff and jitter recover transient resets; a "
            "steady rate means the failures are not transient.",
            [q(f'sum by (target) (rate(connwatch_probe_retries_total{{{IT}}}'
               f'[$__rate_interval]))', "{{target}}")], "reqps", w=12)
    d.row("Latency")
    d.panel("heatmap", "Probe duration",
            "Whole-probe time, retries and backoff included.",
            [q(f'sum by (le) (rate(connwatch_probe_duration_seconds_bucket{{{IT}}}'
               f'[$__rate_interval]))', "{{le}}", format="heatmap")], "s", w=12,
            options={"calculate": False, "yAxis": {"unit": "s"},
                     "cellGap": 1, "color": {"mode": "scheme", "scheme": "Oranges"}})
    d.panel("timeseries", "Phase latency (p50, p99)",
            "Per attempt: resolve, connect and tls only on new connections; processing = time "
            "to the first response byte; transfer = the rest.",
            [q(f'histogram_quantile(0.99, sum by (phase, le) (rate('
               f'connwatch_probe_phase_duration_seconds_bucket{{{IT}}}[$__rate_interval])))',
               "p99 {{phase}}"),
             q(f'histogram_quantile(0.5, sum by (phase, le) (rate('
               f'connwatch_probe_phase_duration_seconds_bucket{{{IT}}}[$__rate_interval])))',
               "p50 {{phase}}")], "s", w=12)
    d.row("Pool")
    d.panel("timeseries", "Pool reuse ratio",
            "Share of requests sent on a reused connection. Low reuse with a long interval is "
            "normal; low reuse with frequent probes means connections die between requests.",
            [q(f'target:connwatch_pool_reuse_ratio:rate5m{{{IT}}}', "{{target}}")],
            "percentunit", w=8, min_=0, max_=1)
    d.panel("timeseries", "Stale pooled connections",
            "Requests that met a reset or EOF on a reused connection (the server closed it "
            "while idle). Set the pool's idle_timeout below the server's keep-alive.",
            [q(f'sum by (target) (target:connwatch_pool_stale_resets:rate5m{{{IT}}})',
               "{{target}}")], "reqps", w=8, thresholds=[(0.001, "red")])
    d.panel("timeseries", "Server idle close time",
            "The shortest time an idle pooled connection lived before the server closed it: "
            "the server's real keep-alive. Clients must retire connections sooner.",
            [q(f'min by (target) (connwatch_pool_peer_idle_close_seconds{{{IT}}})',
               "{{target}}")], "s", w=8)
    d.panel("timeseries", "Connections closed by reason",
            "Why pooled connections closed: idle_timeout/max_lifetime (the pool retired them), "
            "peer_closed/reset (the server did), error.",
            [q(f'sum by (reason) (rate(connwatch_pool_connections_closed_total{{{IT}}}'
               f'[$__rate_interval]))', "{{reason}}")], "ops", w=12)
    d.panel("timeseries", "Pool connections",
            "Open pooled connections by state.",
            [q(f'sum by (target, state) (connwatch_pool_connections{{{IT}}})',
               "{{target}} {{state}}")], "short", w=12)
    d.row("DNS")
    d.panel("timeseries", "DNS resolutions and address changes",
            "Address changes: the name now points elsewhere; pooled connections follow only "
            "when max_lifetime retires them.",
            [q(f'sum by (target) (increase(connwatch_dns_address_changes_total{{{IT}}}'
               f'[$__range]))', "changes {{target}}"),
             q(f'sum by (target) (increase(connwatch_dns_resolutions_total{{{IT}}}'
               f'[$__range]))', "resolutions {{target}}")], "short", w=12)
    d.panel("stat", "Last HTTP status",
            "The status code of each target's last response.",
            [q(f'max by (target) (connwatch_probe_http_status_code{{{IT}}})', "{{target}}")],
            "none", w=12, thresholds=[(400, "orange"), (500, "red")],
            options={"reduceOptions": {"calcs": ["lastNotNull"]}})
    d.row("Network quality")
    d.panel("timeseries", "Probe connection RTT",
            "The smoothed RTT of each probe's own connection (its TCP_INFO). It rising with "
            "retransmissions means the path to the target is lossy or congested.",
            [q(f'max by (target) (connwatch_probe_tcp_rtt_seconds{{{IT}}})', "{{target}}")],
            "s", w=12)
    d.panel("timeseries", "Probe retransmissions",
            "Segments the probe connections had to send again, per second. Any steady value "
            "means packets to the target are lost.",
            [q(f'sum by (target) (rate(connwatch_probe_tcp_retransmits_total{{{IT}}}'
               f'[$__rate_interval]))', "{{target}}")], "ops", w=12,
            thresholds=[(0.01, "orange")])
    return d


DASHBOARDS = {"resets.json": resets, "sockets.json": sockets, "probes.json": probes}


def render(build):
    return json.dumps(build().json(), indent=2, sort_keys=True) + "\n"


# --- Prometheus rules --------------------------------------------------------------------------
#
# The one place to adapt the rules to a deployment (or pass --runbook-base / --job-selector):
# RUNBOOK_BASE: where RUNBOOK.md is published; every alert's runbook_url is this plus the
# section's anchor, an absolute link in every notification. The repository's public URL is not
# fixed yet: this default is a placeholder, point it at your copy.
RUNBOOK_BASE = "https://github.com/connwatch/connwatch/blob/main/dashboards/RUNBOOK.md"
# JOB_SELECTOR: the label matcher of the scrape jobs that collect connwatch. It matches the
# shipped configs: `connwatch` and `connwatch-fleet` (provisioning/prometheus.yml) and the
# Prometheus Operator's `connwatch/connwatch` (deploy/kubernetes PodMonitor), and not the
# `connwatch_diagnose` job of one-shot results on a Pushgateway: a diagnose run's port figures
# are a snapshot, not a live gauge to alert on.
JOB_SELECTOR = 'job=~"connwatch|connwatch-fleet|connwatch/connwatch"'


REUSED = 'connection="reused"'
RETRANS, OUTSEGS = 'counter="RetransSegs"', 'counter="OutSegs"'
GAVE_UP = 'result=~"exhausted|budget_denied"'


def _sel(metric, job, *matchers):
    return f'{metric}{{{", ".join((job,) + matchers)}}}'


def _alert(name, expr, for_, severity, summary, description, anchor):
    return {"alert": name, "expr": expr, "for": for_, "severity": severity,
            "summary": summary, "description": description, "anchor": anchor}


def recording_rules(job):
    """(record, expr) pairs: what the dashboards and alerts read. Aggregations name what they
    drop (`without`), never what they keep, so every label the scrape or the remote-writing
    Prometheus adds (cluster, env, team, ...) stays on the recorded series and on the alerts
    built from them: Alertmanager routes on those labels (docs/DEPLOY.md)."""
    m = lambda metric, *matchers: _sel(metric, job, *matchers)  # noqa: E731
    return [
        ("instance:connwatch_tcp_resets:rate1m",
         f"sum without (sender, phase, port) (rate({m('connwatch_tcp_resets_total')}[1m]))"),
        ("instance_sender_phase:connwatch_tcp_resets:rate1m",
         f"sum without (port) (rate({m('connwatch_tcp_resets_total')}[1m]))"),
        # The baseline the spike alert compares against: the last hour's average reset rate.
        ("instance:connwatch_tcp_resets:rate1m:avg1h",
         "avg_over_time(instance:connwatch_tcp_resets:rate1m[1h])"),
        ("instance:connwatch_tcp_connections:rate5m",
         f"sum without (port) (rate({m('connwatch_tcp_connections_total')}[5m]))"),
        ("instance:connwatch_tcp_reset_ratio:rate5m",
         f"sum without (sender, phase, port) (rate({m('connwatch_tcp_resets_total')}[5m]))\n"
         "  /\n"
         "instance:connwatch_tcp_connections:rate5m > 0\n"),
        ("instance:connwatch_file_descriptors:utilization",
         f"{m('connwatch_file_descriptors')} / {m('connwatch_file_descriptors_limit')}"),
        ("target_outcome:connwatch_probe_attempts:rate5m",
         f"rate({m('connwatch_probe_attempts_total')}[5m])"),
        ("target:connwatch_pool_reuse_ratio:rate5m",
         f"sum without (connection) (rate({m('connwatch_pool_requests_total', REUSED)}[5m]))\n"
         "  /\n"
         f"sum without (connection) (rate({m('connwatch_pool_requests_total')}[5m])) > 0\n"),
        ("target:connwatch_pool_stale_resets:rate5m",
         f"rate({m('connwatch_pool_stale_resets_total')}[5m])"),
        # Network quality (SPEC §4, tcp_info per destination): a clean destination is 0, not
        # absent, so the denominator alone is filtered.
        ("destination:connwatch_sent_segments:rate5m",
         f"rate({m('connwatch_destination_sent_segments_total')}[5m])"),
        ("destination:connwatch_retransmission_ratio:rate5m",
         f"rate({m('connwatch_destination_retransmitted_segments_total')}[5m])\n"
         "  /\n"
         "(destination:connwatch_sent_segments:rate5m > 0)\n"),
        ("netns:connwatch_retransmission_ratio:rate5m",
         f"sum without (counter) (rate({m('connwatch_kernel_tcp_events_total', RETRANS)}[5m]))\n"
         "  /\n"
         f"(sum without (counter) (rate({m('connwatch_kernel_tcp_events_total', OUTSEGS)}[5m])) > 0)\n"),
    ]


NETNS = "{{ with $labels.netns }} in network namespace {{ . }}{{ end }}"


def alerts(job):
    m = lambda metric, *matchers: _sel(metric, job, *matchers)  # noqa: E731
    up = _sel("up", job)
    return [
        _alert("ConnwatchResetRateSpike",
               "instance:connwatch_tcp_resets:rate1m > 1\n"
               "  and\n"
               "instance:connwatch_tcp_resets:rate1m > 3 * instance:connwatch_tcp_resets:rate1m:avg1h\n",
               "1m", "warning",
               "TCP resets on {{ $labels.instance }} spiked",
               '{{ $labels.instance }} sees {{ $value | printf "%.1f" }} resets/s, more than '
               "three times its average over the last hour. The Resets dashboard shows who "
               "sends them (sender, phase, top peers); `agent --diagnose` on the host names the "
               "cause.",
               "reset-rate-spike"),
        _alert("ConnwatchResetRatioHigh",
               "instance:connwatch_tcp_reset_ratio:rate5m > 0.05\n"
               "  and\n"
               "instance:connwatch_tcp_connections:rate5m > 0.1\n",
               "10m", "warning",
               "Many new connections on {{ $labels.instance }} end in a reset",
               "Over 5 minutes {{ $labels.instance }} saw {{ $value | humanizePercentage }} as "
               "many resets as new connections (threshold 5%). Look at the phase: handshake "
               "means refused, established means aborted by a peer or a middlebox.",
               "reset-ratio-high"),
        _alert("ConnwatchStalePooledConnections",
               "target:connwatch_pool_stale_resets:rate5m > 0", "10m", "warning",
               "{{ $labels.target }}: requests keep meeting connections the server already "
               "closed",
               '{{ $labels.target }} on {{ $labels.instance }} saw {{ $value | printf "%.3f" }}/s '
               "resets or EOFs on reused pooled connections for 10 minutes: the server closes "
               "idle connections before the pool retires them.",
               "stale-pooled-connections"),
        # Per network namespace: each has its own port range (a pod exhausting its ports says
        # nothing about the host's).
        _alert("ConnwatchEphemeralPortsHigh",
               f"{m('connwatch_ephemeral_port_utilization_ratio')} >= 0.7",
               "5m", "warning",
               "{{ $labels.instance }} is using up its ephemeral ports towards "
               "{{ $labels.destination }}",
               "Connections from {{ $labels.instance }}" + NETNS + " to "
               "{{ $labels.destination }} hold {{ $value | humanizePercentage }} of "
               "net.ipv4.ip_local_port_range (TIME_WAIT included). At 100% connect() fails "
               "with EADDRNOTAVAIL.",
               "ephemeral-port-exhaustion"),
        _alert("ConnwatchEphemeralPortsCritical",
               f"{m('connwatch_ephemeral_port_utilization_ratio')} >= 0.9",
               "2m", "critical",
               "{{ $labels.instance }} is about to run out of ports towards "
               "{{ $labels.destination }}",
               "{{ $value | humanizePercentage }} of the ephemeral port range on "
               "{{ $labels.instance }}" + NETNS + " is in use towards {{ $labels.destination }}; "
               "new connections will fail with EADDRNOTAVAIL.",
               "ephemeral-port-exhaustion"),
        _alert("ConnwatchFileDescriptorsHigh",
               "instance:connwatch_file_descriptors:utilization >= 0.8", "5m", "critical",
               "{{ $labels.instance }} is running out of file handles",
               "{{ $labels.instance }} uses {{ $value | humanizePercentage }} of fs.file-max. "
               "When it fills, every process gets ENFILE on open(), socket() and accept().",
               "file-descriptors"),
        _alert("ConnwatchProbeFailing",
               f"{m('connwatch_probe_success')} == 0", "3m", "critical",
               "Probe {{ $labels.target }} on {{ $labels.instance }} is failing",
               "Every probe of {{ $labels.target }} from {{ $labels.instance }} failed for 3 "
               "minutes, retries included. The Probes dashboard shows the attempt outcomes "
               "(refused, reset, timeout, ...).",
               "probe-failing"),
        _alert("ConnwatchProbeRetriesExhausted",
               "sum without (result) (\n"
               f"  increase({m('connwatch_probe_results_total', GAVE_UP)}[10m])\n"
               ") > 0\n",
               None, "warning",
               "Probe {{ $labels.target }} on {{ $labels.instance }} runs out of retries",
               "{{ $labels.target }} on {{ $labels.instance }} failed on every allowed attempt "
               '(or the retry budget refused a retry) {{ $value | printf "%.0f" }} times in 10 '
               "minutes: the failures are not transient.",
               "retries-exhausted"),
        _alert("ConnwatchCaptureDown",
               f"{m('connwatch_capture_up')} == 0", "5m", "warning",
               "Packet capture is down on {{ $labels.instance }}",
               "connwatch on {{ $labels.instance }} cannot capture packets (missing CAP_NET_RAW, "
               "or the interface is gone); reset and TIME_WAIT counts stop. The agent's log says "
               "why.",
               "capture-down-or-dropping"),
        _alert("ConnwatchCaptureDropping",
               f"sum without (where) (rate({m('connwatch_capture_dropped_packets_total')}[5m])) > 0",
               "10m", "warning",
               "Packet capture on {{ $labels.instance }} drops packets",
               'The kernel or the interface dropped {{ $value | printf "%.1f" }} captured '
               "packets/s for 10 minutes on {{ $labels.instance }}: reset counts are low. Raise "
               "capture.buffer_size.",
               "capture-down-or-dropping"),
        _alert("ConnwatchMiddleboxResets",
               f"sum without (port) "
               f"(rate({m('connwatch_tcp_resets_suspected_middlebox_total')}[5m])) > 0.1",
               "10m", "warning",
               "Resets with a mismatched TTL on {{ $labels.instance }}: a middlebox is resetting",
               '{{ $value | printf "%.2f" }} resets/s on {{ $labels.instance }} carry a TTL that '
               "does not match their connection: something in the path forges them.",
               "middlebox-resets"),
        _alert("ConnwatchConfigReloadFailed",
               f"{m('connwatch_config_last_reload_successful')} == 0", "5m", "warning",
               "connwatch on {{ $labels.instance }} rejected its new config",
               "The last reload of the config on {{ $labels.instance }} failed; the agent keeps "
               "running the previous config. `agent --check-config` names the file, line and "
               "key.",
               "config-reload-failed"),
        _alert("ConnwatchRetransmissionsHigh",
               "destination:connwatch_retransmission_ratio:rate5m >= 0.01\n"
               "  and\n"
               "destination:connwatch_sent_segments:rate5m > 1\n",
               "10m", "warning",
               "Packets from {{ $labels.instance }} to {{ $labels.destination }} are being lost",
               "{{ $value | humanizePercentage }} of the segments {{ $labels.instance }}" + NETNS
               + " sent to {{ $labels.destination }} over 5 minutes were retransmissions "
               "(threshold 1%): packets are lost on the way. RTT by destination on the Sockets "
               "dashboard shows whether the path is also slow.",
               "packet-loss"),
        _alert("ConnwatchRetransmissionsCritical",
               "destination:connwatch_retransmission_ratio:rate5m >= 0.05\n"
               "  and\n"
               "destination:connwatch_sent_segments:rate5m > 1\n",
               "5m", "critical",
               "Heavy packet loss from {{ $labels.instance }} to {{ $labels.destination }}",
               "{{ $value | humanizePercentage }} of the segments {{ $labels.instance }}" + NETNS
               + " sent to {{ $labels.destination }} over 5 minutes were retransmissions "
               "(threshold 5%): connections stall on retransmission timeouts and time out.",
               "packet-loss"),
        # The agent itself: a host whose agent is down or gone watches nothing, so it pages.
        # up == 0: one host's agent is down; absent(): no agent is scraped at all (the job
        # left service discovery), which no up == 0 series would ever show.
        _alert("ConnwatchAgentDown",
               f"{up} == 0\n  or\nabsent({up})\n", "5m", "critical",
               "{{ with $labels.instance }}connwatch on {{ . }} is down"
               "{{ else }}No connwatch agent is being scraped{{ end }}",
               "{{ with $labels.instance }}Prometheus job {{ $labels.job }} has not been able to "
               "scrape connwatch on {{ . }} for 5 minutes (up = {{ $value }}): the agent stopped "
               "or crashed, or its port is unreachable. Resets, ports and probes on that host go "
               "unwatched.{{ else }}Prometheus has had no `" + up + "` series for 5 minutes: "
               "every connwatch target left service discovery or the scrape job is gone. No "
               "host's resets, ports or probes are watched.{{ end }}",
               "agent-down"),
    ]


def rule_groups(runbook_base=RUNBOOK_BASE, job_selector=JOB_SELECTOR, for_overrides=None):
    """The rule groups as Prometheus loads them. for_overrides maps an alert name (or "*" for
    all) to a `for:` duration: tests shorten waits with it; the shipped file never does."""
    for_overrides = for_overrides or {}
    out = []
    for a in alerts(job_selector):
        rule = {"alert": a["alert"], "expr": a["expr"]}
        duration = for_overrides.get(a["alert"], for_overrides.get("*", a["for"]))
        if duration:
            rule["for"] = duration
        rule["labels"] = {"severity": a["severity"]}
        rule["annotations"] = {"summary": a["summary"], "description": a["description"],
                               "runbook_url": f"{runbook_base}#{a['anchor']}"}
        out.append(rule)
    return [
        {"name": "connwatch.recording",
         "rules": [{"record": r, "expr": e} for r, e in recording_rules(job_selector)]},
        {"name": "connwatch.alerts", "rules": out},
    ]


class _Yaml(yaml.SafeDumper):
    def increase_indent(self, flow=False, indentless=False):
        return super().increase_indent(flow, False)  # lists indented under their key


def _str(dumper, text):
    return dumper.represent_scalar("tag:yaml.org,2002:str", text,
                                   style="|" if "\n" in text else None)


_Yaml.add_representer(str, _str)


def to_yaml(data):
    return yaml.dump(data, Dumper=_Yaml, sort_keys=False, width=100, allow_unicode=True)


RULES_HEADER = """\
# Prometheus recording and alerting rules for connwatch, written by dashboards/generate.py (edit
# it there). Load with `rule_files:`; check with `promtool check rules`, test with
# `promtool test rules rules/connwatch.rules.test.yml`. Every alert has a severity label, a
# summary, a description with the value, and a runbook_url into dashboards/RUNBOOK.md.
# Aggregations say what they drop (`without`), so the scrape's own labels (cluster, env, team)
# reach every alert for Alertmanager to route on.
"""


def rules_yaml(**options):
    return RULES_HEADER + to_yaml({"groups": rule_groups(**options)})


# --- Kubernetes: the same rules and dashboards as objects --------------------------------------

K8S_NAMESPACE = "connwatch"
K8S_LABELS = {"app.kubernetes.io/name": "connwatch", "app.kubernetes.io/part-of": "connwatch"}


def prometheus_rule(**options):
    """A PrometheusRule (Prometheus Operator). Its labels must match the Prometheus object's
    ruleSelector (kube-prometheus-stack: `release: <its release name>`; add it with kustomize)."""
    return {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
            "metadata": {"name": "connwatch", "namespace": K8S_NAMESPACE,
                         "labels": dict(K8S_LABELS)},
            "spec": {"groups": rule_groups(**options)}}


def dashboard_config_maps():
    """One ConfigMap per dashboard, labelled for Grafana's dashboard sidecar (k8s-sidecar, as in
    the grafana and kube-prometheus-stack charts: label grafana_dashboard="1", the folder from
    the grafana_folder annotation)."""
    maps = []
    for name, build in DASHBOARDS.items():
        maps.append({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": f"connwatch-dashboard-{name.removesuffix('.json')}",
                         "namespace": K8S_NAMESPACE,
                         "labels": {**K8S_LABELS, "grafana_dashboard": "1"},
                         "annotations": {"grafana_folder": "connwatch"}},
            "data": {f"connwatch-{name}": render(build)}})
    return maps


K8S_HEADER = """\
# Generated by dashboards/generate.py from the same source as dashboards/{source}; do not edit.
"""


def k8s_files(**options):
    rule = K8S_HEADER.format(source="rules/connwatch.rules.yml") + to_yaml(prometheus_rule(**options))
    maps = K8S_HEADER.format(source="grafana/*.json") + "".join(
        "---\n" + to_yaml(m) for m in dashboard_config_maps())
    return {"connwatch-prometheusrule.yaml": rule, "connwatch-dashboards.yaml": maps}


def outputs(**options):
    """Every generated file: {path relative to dashboards/: text}."""
    files = {f"grafana/{name}": render(build) for name, build in DASHBOARDS.items()}
    files["rules/connwatch.rules.yml"] = rules_yaml(**options)
    files.update({f"kubernetes/{n}": t for n, t in k8s_files(**options).items()})
    return files


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1 when a committed file differs from what this writes")
    parser.add_argument("--runbook-base", default=RUNBOOK_BASE,
                        help=f"URL of RUNBOOK.md for runbook_url (default {RUNBOOK_BASE})")
    parser.add_argument("--job-selector", default=JOB_SELECTOR,
                        help=f"label matcher of the connwatch scrape jobs (default {JOB_SELECTOR})")
    parser.add_argument("--out", type=Path, default=HERE,
                        help="write under this directory instead of dashboards/")
    args = parser.parse_args()
    stale = []
    for rel, text in outputs(runbook_base=args.runbook_base,
                             job_selector=args.job_selector).items():
        path = args.out / rel
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if stale:
        print("out of date (run python3 dashboards/generate.py): " + ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
