// blackbox_exporter modules for /probe (SPEC §3, Prometheus-driven probing): a blackbox
// configuration file (YAML `modules:`) read unchanged for the keys connwatch supports; any other
// key is an error naming it, with file:line:column (yaml-cpp's marks, 1-based here).
//
// Supported, as blackbox spells them:
//   modules.NAME.prober: http | tcp             modules.NAME.timeout: Prometheus duration
//   modules.NAME.http.valid_status_codes: [int]  (empty: any 2xx, as blackbox)
//   modules.NAME.http.method / headers / body / fail_if_body_not_matches_regexp: [regex]
//   modules.NAME.{http,tcp}.preferred_ip_protocol: ip4 | ip6 (default ip6)
//   modules.NAME.{http,tcp}.ip_protocol_fallback: bool (default true)
//   modules.NAME.http.tls_config: ca_file, cert_file, key_file, server_name,
//                                 insecure_skip_verify
// modules.NAME.tcp.tls_config is an error naming it: the tcp prober does not speak TLS.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace connwatch::config {

enum class ProberKind { kHttp, kTcp };
std::string_view to_string(ProberKind kind);

struct ProbeModule {
  std::string name;
  ProberKind prober = ProberKind::kHttp;
  // Not set (0): the scrape's X-Prometheus-Scrape-Timeout-Seconds minus 0.5 s decides, as in
  // blackbox_exporter (which has no default module timeout).
  Duration timeout{0};
  std::vector<int> valid_status_codes;  // empty: 200-299
  std::string method = "GET";
  std::map<std::string, std::string> headers;
  std::string body;
  std::vector<std::string> fail_if_body_not_matches;  // every one must match
  IpProtocol preferred_ip_protocol = IpProtocol::kIp6;
  bool ip_protocol_fallback = true;
  TlsSettings tls;
  // Follow 301, 302, 303, 307 and 308 to their Location, at most kMaxRedirects, as blackbox's
  // Go client does (http.follow_redirects, default true; no_follow_redirects: true turns it off).
  bool follow_redirects = true;

  // The ip_protocol a target probed with this module uses: with the fallback the preferred family
  // first, then the other (auto for ip6, ip4_first for ip4), else only the preferred family.
  IpProtocol ip_protocol() const {
    if (!ip_protocol_fallback) return preferred_ip_protocol;
    return preferred_ip_protocol == IpProtocol::kIp4 ? IpProtocol::kIp4First : IpProtocol::kAuto;
  }
  bool operator==(const ProbeModule&) const = default;
};

using ProbeModules = std::map<std::string, ProbeModule, std::less<>>;

// Throws ConfigError (config/loader.h) listing every problem as "file:line:col: key: what".
ProbeModules load_probe_modules_file(const std::filesystem::path& path);
ProbeModules parse_probe_modules(std::string_view text, const std::string& source_name);

}  // namespace connwatch::config
