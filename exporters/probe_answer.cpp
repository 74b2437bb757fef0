#include "exporters/probe_answer.h"

#include <fmt/format.h>
#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

namespace connwatch::exporters {

namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;

ClientMetric gauge(double value, std::vector<ClientMetric::Label> labels = {}) {
  ClientMetric metric;
  metric.label = std::move(labels);
  metric.gauge.value = value;
  return metric;
}

MetricFamily family(std::string name, std::string help, std::vector<ClientMetric> metrics) {
  MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = prometheus::MetricType::Gauge;
  f.metric = std::move(metrics);
  return f;
}

// blackbox_exporter's probe_ip_addr_hash (prober/utils.go ipHash): FNV-1a 32 (Go's hash/fnv
// New32a) over the address's bytes, 4 for IPv4 (an IPv4-mapped IPv6 address too, as Go's To4()
// gives), else 16.
std::uint32_t ip_addr_hash(const net::IpAddress& address) {
  const net::IpAddress plain =
      address.is_v6()
          ? net::IpAddress::v6_unmapped(std::span<const std::uint8_t, 16>(address.bytes()))
          : address;
  std::uint32_t hash = 2166136261u;
  for (std::size_t i = 0; i < plain.size(); ++i) {
    hash ^= plain.data()[i];
    hash *= 16777619u;
  }
  return hash;
}

double phase(const active::ProbeReport& report, active::Phase p) {
  return report.phase_seconds[active::index_of(p)].value_or(0.0);
}

}  // namespace

std::string render_probe_answer(config::ProberKind prober, const active::ProbeReport& report) {
  using active::Outcome;
  using active::Phase;
  std::vector<MetricFamily> families;
  families.push_back(family("probe_success", "Whether the probe succeeded (1) or not (0)",
                            {gauge(report.success ? 1 : 0)}));
  families.push_back(family("probe_duration_seconds", "How long the probe took, in seconds",
                            {gauge(report.duration_seconds)}));
  families.push_back(family("probe_dns_lookup_time_seconds",
                            "Time the probe spent resolving the target's name, in seconds (0: "
                            "the pool's earlier resolution still held)",
                            {gauge(phase(report, Phase::kResolve))}));
  families.push_back(family("probe_ip_protocol",
                            "IP version of the address probed: 4 or 6 (0: none was known)",
                            {gauge(report.ip_family)}));
  families.push_back(family("probe_failed_due_to_regex",
                            "Whether the probe failed because the body did not match",
                            {gauge(report.outcome == Outcome::kBodyMismatch ? 1 : 0)}));
  if (prober == config::ProberKind::kHttp) {
    families.push_back(family("probe_http_status_code",
                              "HTTP status of the response, 0 when no status line arrived",
                              {gauge(report.http_status)}));
    std::vector<ClientMetric> phases;
    for (const Phase p : active::kAllPhases) {
      phases.push_back(gauge(phase(report, p), {{"phase", std::string(active::to_string(p))}}));
    }
    families.push_back(family("probe_http_duration_seconds",
                              "Duration of each phase of the HTTP request, in seconds (connect "
                              "and tls are 0 on a reused connection)",
                              std::move(phases)));
    families.push_back(family("probe_http_version", "HTTP version of the response (0: none)",
                              {gauge(report.http_version / 10.0)}));
    families.push_back(
        family("probe_http_ssl", "Whether the request went over TLS", {gauge(report.tls ? 1 : 0)}));
    // blackbox's values: Go's resp.ContentLength (-1 when a response did not say; 0 without a
    // response), the body bytes read (nothing asks for compression, so never decompressed), and
    // redirects followed (the rest describes the last response).
    double content_length = 0;
    if (report.http_status != 0) {
      content_length =
          report.http_content_length ? static_cast<double>(*report.http_content_length) : -1.0;
    }
    families.push_back(family("probe_http_content_length",
                              "Length of the response body from its Content-Length (-1: a "
                              "response without one; 0: no response)",
                              {gauge(content_length)}));
    families.push_back(family("probe_http_uncompressed_body_length",
                              "Length of the response body read, in bytes",
                              {gauge(static_cast<double>(report.http_body_bytes))}));
    families.push_back(
        family("probe_http_redirects",
               "Redirects the probe met: followed, or refused (follow_redirects false, the 11th, "
               "a scheme other than http/https), as blackbox counts them",
               {gauge(report.http_redirects)}));
    if (report.http_last_modified) {
      families.push_back(family("probe_http_last_modified_timestamp_seconds",
                                "The response's Last-Modified, Unix seconds",
                                {gauge(static_cast<double>(*report.http_last_modified))}));
    }
  }
  if (report.ip_address) {
    families.push_back(family("probe_ip_addr_hash",
                              "Hash of the address probed (blackbox_exporter's): a change means "
                              "the name resolved elsewhere",
                              {gauge(static_cast<double>(ip_addr_hash(*report.ip_address)))}));
  }
  if (report.tls && report.tls_earliest_cert_expiry) {
    families.push_back(family("probe_ssl_earliest_cert_expiry",
                              "Earliest notAfter of the certificates the server sent, Unix seconds",
                              {gauge(static_cast<double>(*report.tls_earliest_cert_expiry))}));
  }
  if (report.tls && !report.tls_version.empty()) {
    families.push_back(family("probe_tls_version_info", "The TLS version the connection uses",
                              {gauge(1, {{"version", report.tls_version}})}));
  }
  if (!report.success) {
    families.push_back(
        family("probe_failure_info",
               "Why the probe failed: 1 for its outcome (connwatch's closed set of "
               "connwatch_probe_attempts_total)",
               {gauge(1, {{"outcome", std::string(active::to_string(report.outcome))}})}));
  }
  families.push_back(family("connwatch_probe_connection",
                            "The connection the probe ran on: new, or reused from the "
                            "(module, target) pool kept between scrapes",
                            {gauge(report.connection_reused ? 0 : 1, {{"connection", "new"}}),
                             gauge(report.connection_reused ? 1 : 0, {{"connection", "reused"}})}));
  std::sort(families.begin(), families.end(),
            [](const MetricFamily& a, const MetricFamily& b) { return a.name < b.name; });
  return prometheus::TextSerializer().Serialize(families);
}

std::string render_probe_debug(const config::ProbeModule& module, std::string_view target,
                               double budget, const active::ProbeReport& report) {
  using active::Phase;
  std::string logs =
      fmt::format("module \"{}\", target \"{}\", deadline {:.3f} s\n", module.name, target, budget);
  if (report.ip_address) {
    logs += fmt::format("address {} (IPv{}), {} connection{}\n", report.ip_address->to_string(),
                        report.ip_family, report.connection_reused ? "reused" : "new",
                        report.peer.empty() ? "" : " to " + report.peer);
  } else {
    logs += "no address was dialled\n";
  }
  for (const Phase p : active::kAllPhases) {
    const auto& seconds = report.phase_seconds[active::index_of(p)];
    logs += seconds ? fmt::format("phase {}: {:.6f} s\n", active::to_string(p), *seconds)
                    : fmt::format("phase {}: did not run\n", active::to_string(p));
  }
  if (module.prober == config::ProberKind::kHttp && report.http_status != 0) {
    logs += fmt::format("response: HTTP/{:.1f} {}, {} body bytes{}\n", report.http_version / 10.0,
                        report.http_status, report.http_body_bytes,
                        report.http_content_length
                            ? fmt::format(" (Content-Length {})", *report.http_content_length)
                            : std::string());
  }
  if (report.http_redirects > 0) {
    logs += fmt::format(
        "followed {} redirect(s); the response and the connection above are the "
        "last hop's, the phase times the sum of every hop's\n",
        report.http_redirects);
  }
  if (report.tls) logs += fmt::format("TLS: {}\n", report.tls_version);
  logs += fmt::format("outcome: {} after {:.6f} s{}{}\n", active::to_string(report.outcome),
                      report.duration_seconds, report.error.empty() ? "" : ": ", report.error);
  logs += report.success ? "Probe succeeded\n" : "Probe failed\n";

  std::string config = fmt::format("prober: {}\n", config::to_string(module.prober));
  config += module.timeout.count() > 0
                ? fmt::format("timeout: {} ms\n", module.timeout.count())
                : std::string("timeout: not set (the scrape's timeout minus 0.5 s)\n");
  if (module.prober == config::ProberKind::kHttp) {
    config += fmt::format("method: {}\n", module.method);
    config += "valid_status_codes:";
    if (module.valid_status_codes.empty()) config += " 2xx";
    for (const int code : module.valid_status_codes) config += fmt::format(" {}", code);
    config += "\n";
    for (const auto& regex : module.fail_if_body_not_matches) {
      config += fmt::format("fail_if_body_not_matches_regexp: {}\n", regex);
    }
  }
  return "Logs for the probe:\n" + logs + "\n\n\nMetrics that would have been returned:\n" +
         render_probe_answer(module.prober, report) + "\n\n\nModule configuration:\n" + config;
}

}  // namespace connwatch::exporters
