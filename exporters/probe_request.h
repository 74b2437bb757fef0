// What a /probe request asks (SPEC §3, Prometheus-driven probing), read the way blackbox_exporter
// reads it: the query's `target` and `module` (module defaults to http_2xx), and the probe's
// deadline from Prometheus' X-Prometheus-Scrape-Timeout-Seconds header.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace connwatch::exporters {

// The longest target /probe takes, in bytes after percent-decoding: a URL beyond it is a 400.
inline constexpr std::size_t kMaxProbeTarget = 2048;

struct ProbeQuery {
  std::string target;               // as Prometheus sent it, percent-decoded
  std::string module = "http_2xx";  // blackbox's default module name
  bool debug = false;               // debug=true: the probe's account in text (blackbox's ?debug)
};

// Parses the query part of a request target ("/probe?target=...&module=..."): `+` is a space and
// %XX a byte, as Go's url.ParseQuery reads it; the first of repeated keys wins; other keys are
// ignored, and a pair whose key, or whose value for another key, has a malformed %-escape is
// skipped as Go's r.URL.Query() skips it. Unlike Go, a malformed escape in the first target or
// module value is a 400 naming it (Go drops the pair: "Target parameter is missing" or the
// default module). nullopt with `error` (the text of a 400) then, and when the target is missing,
// empty or longer than kMaxProbeTarget bytes decoded.
std::optional<ProbeQuery> parse_probe_query(std::string_view request_target, std::string& error);

// blackbox_exporter's budget for one probe: the scrape timeout Prometheus sent (120 s without the
// header, as blackbox) minus `offset` (blackbox's --timeout-offset, 0.5 s), or the module's
// `timeout` when that is shorter, or when the scrape timeout minus the offset is below zero (so a
// header below the offset with a module without timeout gives 0: the probe fails at once, as in
// blackbox). Always finite and within [0, kMaxProbeTimeout] (a header of 1e300 is clamped), so it
// casts to any clock duration safely. nullopt with `error` when the header is not a number.
std::optional<std::chrono::duration<double>> probe_timeout(
    std::optional<std::string_view> scrape_timeout_header, std::chrono::duration<double> module,
    std::chrono::duration<double> offset, std::string& error);

// The longest budget a probe gets, whatever the header or module says (seconds): blackbox's value
// without the header, and the connect/request timeout of a module without one (module_target.h).
inline constexpr std::chrono::duration<double> kMaxProbeTimeout{120.0};

// blackbox_exporter's default --timeout-offset.
inline constexpr std::chrono::milliseconds kProbeTimeoutOffset{500};

// Redirects a /probe follows (blackbox_exporter's Go client stops at 10 and fails the probe).
inline constexpr int kMaxRedirects = 10;

// The absolute URL a redirect's Location names (RFC 9110 §10.2.2, resolved against the request's
// URL as RFC 3986 §5.2 does, without removing dot segments: the server resolves those). `origin`
// is the request's "scheme://host:port", `path` its path with the query. Absolute http(s) URLs
// are kept; "//host/p" takes the request's scheme; "/p" its origin; "?q" its path; "p" the
// directory of its path. A fragment is dropped. nullopt for an empty Location or another scheme
// (ftp:, mailto:): nothing /probe can follow.
std::optional<std::string> redirect_target(std::string_view origin, std::string_view path,
                                           std::string_view location);

}  // namespace connwatch::exporters
