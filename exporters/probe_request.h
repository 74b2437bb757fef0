// What a /probe request asks (SPEC §3, Prometheus-driven probing), read the way blackbox_exporter
// reads it: the query's `target` and `module` (module defaults to http_2xx), and the probe's
// deadline from Prometheus' X-Prometheus-Scrape-Timeout-Seconds header.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace connwatch::exporters {

struct ProbeQuery {
  std::string target;               // as Prometheus sent it, percent-decoded
  std::string module = "http_2xx";  // blackbox's default module name
};

// Parses the query part of a request target ("/probe?target=...&module=..."): `+` is a space and
// %XX a byte, as Go's url.ParseQuery reads it; the first of repeated keys wins; other keys are
// ignored. nullopt with `error` (the text of a 400) when the target is missing or empty, or an
// escape is malformed.
std::optional<ProbeQuery> parse_probe_query(std::string_view request_target, std::string& error);

// blackbox_exporter's budget for one probe: the scrape timeout Prometheus sent (120 s without the
// header, as blackbox) minus `offset` (blackbox's --timeout-offset, 0.5 s), or the module's
// `timeout` when that is shorter, or when the scrape timeout minus the offset is below zero.
// nullopt with `error` when the header is not a number.
std::optional<std::chrono::duration<double>> probe_timeout(
    std::optional<std::string_view> scrape_timeout_header, std::chrono::duration<double> module,
    std::chrono::duration<double> offset, std::string& error);

// blackbox_exporter's default --timeout-offset.
inline constexpr std::chrono::milliseconds kProbeTimeoutOffset{500};

}  // namespace connwatch::exporters
