#!/usr/bin/env python3
"""Writes the Grafana dashboards under dashboards/grafana/ from the definitions below.

The JSON is committed (Grafana imports it as is); this file is the readable source. After an
edit run `python3 dashboards/generate.py`; the test suite fails while the committed JSON differs
from what this prints (`--check`).

Every panel says what it shows and what a bad value means, has a unit, and queries through the
`${datasource}` variable with `instance` (and, on Probes, `target`) filters.
"""
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DS = {"type": "prometheus", "uid": "${datasource}"}
I = 'instance=~"$instance"'
IT = 'instance=~"$instance", target=~"$target"'


def variables(with_target):
    v = [
        {"name": "datasource", "label": "Data source", "type": "datasource",
         "query": "prometheus", "current": {}, "hide": 0, "refresh": 1},
        {"name": "instance", "label": "Instance", "type": "query", "datasource": DS,
         "query": {"query": "label_values(connwatch_build_info, instance)",
                   "refId": "instance"},
         "definition": "label_values(connwatch_build_info, instance)",
         "multi": True, "includeAll": True, "allValue": ".+", "refresh": 2, "sort": 1,
         "current": {}, "hide": 0},
    ]
    if with_target:
        q = 'label_values(connwatch_probe_success{instance=~"$instance"}, target)'
        v.append({"name": "target", "label": "Target", "type": "query", "datasource": DS,
                  "query": {"query": q, "refId": "target"}, "definition": q,
                  "multi": True, "includeAll": True, "allValue": ".+", "refresh": 2,
                  "sort": 1, "current": {}, "hide": 0})
    return v


class Dashboard:
    def __init__(self, uid, title, description, with_target=False):
        self.uid, self.title, self.description = uid, title, description
        self.with_target = with_target
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
            "templating": {"list": variables(self.with_target)},
            "annotations": {"list": []},
            "links": [{"title": "connwatch", "type": "dashboards", "tags": ["connwatch"],
                       "asDropdown": True}],
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
                  "TCP counters, read through sock_diag and /proc.")
    d.row("Socket states")
    d.panel("timeseries", "Sockets by state",
            "TCP sockets by state. Many close_wait: the local application does not close "
            "sockets the peer closed. Many syn_sent: connects hang (a firewall dropping).",
            [q(f'sum by (state) (connwatch_sockets{{{I}}})', "{{state}}")], "short", w=12)
    d.panel("timeseries", "TIME_WAIT by destination",
            "TIME_WAIT sockets per remote ip:port (top-K). A steady climb to one destination "
            "is a client opening a connection per request.",
            [q(f'topk(10, sum by (destination) (connwatch_time_wait_sockets{{{I}}}))',
               "{{destination}}")], "short", w=12)
    d.row("Ephemeral ports")
    d.panel("timeseries", "Ephemeral port utilization by destination",
            "Share of net.ipv4.ip_local_port_range used towards one destination (each "
            "connection to one ip:port needs its own local port, TIME_WAIT included). At 1.0 "
            "connect() fails with EADDRNOTAVAIL.",
            [q(f'topk(10, max by (destination) '
               f'(connwatch_ephemeral_port_utilization_ratio{{{I}}}))', "{{destination}}")],
            "percentunit", w=12, thresholds=[(0.7, "orange"), (0.9, "red")], min_=0, max_=1)
    d.panel("timeseries", "Ephemeral ports in use",
            "Local ports held per destination against the size of the range.",
            [q(f'topk(10, sum by (destination) (connwatch_ephemeral_ports_in_use{{{I}}}))',
               "{{destination}}"),
             q(f'max(connwatch_ephemeral_port_range_size{{{I}}})', "range size")], "short",
            w=12)
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
            [q(f'sum by (counter) (rate(connwatch_kernel_tcp_events_total{{{I}, counter=~'
               f'"OutRsts|EstabResets|AttemptFails|TCPAbortOn.*"}}[$__rate_interval]))',
               "{{counter}}")], "ops", w=12)
    d.panel("timeseries", "Listen queue overflows and TIME_WAIT overflow",
            "ListenOverflows/ListenDrops: a local server accepts too slowly (raise its backlog "
            "and net.core.somaxconn). TCPTimeWaitOverflow: tcp_max_tw_buckets reached.",
            [q(f'sum by (counter) (rate(connwatch_kernel_tcp_events_total{{{I}, counter=~'
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
    return d


DASHBOARDS = {"resets.json": resets, "sockets.json": sockets, "probes.json": probes}


def render(build):
    return json.dumps(build().json(), indent=2, sort_keys=True) + "\n"


def main():
    check = "--check" in sys.argv
    stale = []
    for name, build in DASHBOARDS.items():
        path = HERE / "grafana" / name
        text = render(build)
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path))
        else:
            path.write_text(text)
    if stale:
        print("out of date (run python3 dashboards/generate.py): " + ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
