// The answer to one /probe scrape (SPEC §3): the probe's families under blackbox_exporter's names,
// so alerts and dashboards written for blackbox keep working, plus what connwatch adds:
//
//   probe_success, probe_duration_seconds (seconds), probe_dns_lookup_time_seconds (seconds; 0
//   when the probe resolved nothing: a warm pool resolves again only after max_lifetime),
//   probe_ip_protocol (4 or 6; 0 before any address was known), probe_failed_due_to_regex (0/1),
//   and for http modules probe_http_status_code (0 without a status line),
//   probe_http_duration_seconds{phase=resolve|connect|tls|processing|transfer} (seconds, 0 for a
//   phase that did not run: connect and tls only on a new connection), probe_http_version
//   (1.1, 1.0; 0 without a response), probe_http_ssl (0/1), probe_http_content_length (bytes,
//   -1 without a Content-Length), probe_http_uncompressed_body_length (bytes read),
//   probe_http_redirects (redirects met, followed or refused, counted as blackbox's Go client does;
//   the other http families describe the last response),
//   probe_http_last_modified_timestamp_seconds (Unix seconds, only with a Last-Modified), and over
//   TLS probe_ssl_earliest_cert_expiry (Unix seconds) and probe_tls_version_info{version}.
//   probe_ip_addr_hash: FNV-1a 32 of the probed address's bytes (ipHash in blackbox_exporter's
//   prober/utils.go), present once an address was dialled.
//   probe_failure_info{outcome} is 1 for the outcome (SPEC §4's closed set) that failed the probe,
//   absent on success; connwatch_probe_connection{connection="new"|"reused"} is 1 for the kind of
//   connection the probe ran on, 0 for the other.
#pragma once

#include <string>
#include <string_view>

#include "config/probe_modules.h"
#include "probes/active/probe_report.h"

namespace connwatch::exporters {

// The Prometheus text exposition format (version 0.0.4), families in name order.
std::string render_probe_answer(config::ProberKind prober, const active::ProbeReport& report);

// The answer to `/probe?...&debug=true` (blackbox_exporter's debug page, text/plain): what the
// probe did, step by step ("Logs for the probe:"), the answer above ("Metrics that would have been
// returned:"), and the module as connwatch read it ("Module configuration:"). `budget`: the
// probe's deadline in seconds (the module's timeout or the scrape's).
std::string render_probe_debug(const config::ProbeModule& module, std::string_view target,
                               double budget, const active::ProbeReport& report);

}  // namespace connwatch::exporters
