// The agent's configuration (SPEC §3). Every default lives here, in the member initialisers.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "config/address.h"
#include "config/units.h"

namespace connwatch::config {

using namespace std::chrono_literals;

enum class LogLevel { kDebug, kInfo, kWarn, kError };
std::string_view to_string(LogLevel level);

// How log lines look (SPEC §2): logfmt `key=value` pairs, or one JSON object per line.
enum class LogFormat { kLogfmt, kJson };
std::string_view to_string(LogFormat format);

// How retry delays are spread (TCP-NOTES §6): none, full, equal, decorrelated.
enum class Jitter { kNone, kFull, kEqual, kDecorrelated };
std::string_view to_string(Jitter jitter);

// Which network namespaces the kernel collectors read (SPEC §3 [sockets] namespaces).
enum class SocketNamespaces { kAll, kSelf };
std::string_view to_string(SocketNamespaces namespaces);

struct AgentSettings {
  ListenAddress listen{"", 9873};
  LogLevel log_level = LogLevel::kInfo;
  LogFormat log_format = LogFormat::kLogfmt;
  // Started as root: once capture and netlink are open, become this user (and `group`, default
  // the user's primary group) with no capabilities left. Empty: keep the identity started with.
  std::string user;
  std::string group;

  bool operator==(const AgentSettings&) const = default;
};

struct WebSettings {
  // An exporter-toolkit web configuration (YAML: tls_server_config, basic_auth_users, ...), read
  // by the HTTP server and re-read when it changes (exporters/web_config.h). A relative path is
  // relative to the TOML file's directory. --web.config.file overrides it. Set, the three keys
  // below must not be: they are the older inline spelling of the same settings.
  std::string config_file;
  std::string tls_cert;  // PEM; both set = HTTPS
  std::string tls_key;
  std::map<std::string, std::string> basic_auth_users;  // user -> bcrypt or sha256 hash

  bool operator==(const WebSettings&) const = default;
};

struct CaptureSettings {
  bool enabled = true;
  std::string interface = "any";
  int snaplen = 128;  // SLL2 + IPv4/6 + TCP with options
  std::uint64_t buffer_size = 32ULL << 20;
  std::uint32_t max_flows = 262144;
  Duration flow_idle_timeout = 5min;  // opening flows (a SYN without answer)
  Duration established_timeout = 2h;  // established and half-closed flows (SPEC §3)
  std::vector<std::uint16_t> ports;   // service ports to label; others become "other"
  int max_peers = 20;
  // Capture threads sharing the interface's packets by flow (PACKET_FANOUT); > 1 needs a named
  // interface (not "any", not NFLOG).
  int threads = 1;

  bool operator==(const CaptureSettings&) const = default;
};

struct SocketsSettings {
  bool enabled = true;
  Duration interval = 5s;
  int max_destinations = 20;
  SocketNamespaces namespaces = SocketNamespaces::kAll;  // every namespace on the host, or "self"
  int max_namespaces = 20;  // top-K namespaces (by socket count) with their own series

  bool operator==(const SocketsSettings&) const = default;
};

struct PoolSettings {
  int max_connections = 4;
  Duration idle_timeout = 30s;
  Duration max_lifetime = 5min;  // 0 = never retire for age
  Duration connect_timeout = 3s;
  Duration request_timeout = 5s;

  bool operator==(const PoolSettings&) const = default;
};

struct RetrySettings {
  int max_attempts = 3;  // 1 = no retries
  Duration base_delay = 100ms;
  Duration max_delay = 5s;
  Jitter jitter = Jitter::kFull;
  double budget_ratio = 0.2;  // retries may add at most this share to attempts

  bool operator==(const RetrySettings&) const = default;
};

// Which address families a target is probed over (SPEC §3 ip_protocol): auto tries the name's IPv6
// addresses first and falls back to IPv4 within connect_timeout; ip4 / ip6 look up only that
// family. ip4_first (not a TOML value: a blackbox module's preferred_ip_protocol ip4 with
// ip_protocol_fallback) is auto with IPv4 first.
enum class IpProtocol { kAuto, kIp4, kIp6, kIp4First };
std::string_view to_string(IpProtocol protocol);

// A target's TLS client settings (https://). Empty paths: the system trust store, no client
// certificate. The loader checks the files are readable; the prober loads them.
struct TlsSettings {
  std::string ca_file;      // PEM CA bundle; replaces the system store
  std::string cert_file;    // PEM client certificate (chain), for mTLS; needs key_file
  std::string key_file;     // PEM private key of cert_file
  std::string server_name;  // SNI and the name the certificate must carry; empty: the URL's host
  bool insecure_skip_verify = false;

  bool is_default() const { return *this == TlsSettings{}; }
  bool operator==(const TlsSettings&) const = default;
};

struct Target {
  std::string name;
  TargetUrl url;
  std::string url_text;  // as written, for display
  Duration interval = 10s;
  std::string method = "GET";
  std::vector<int> expect_status{200};
  std::map<std::string, std::string> headers;  // sent as given; Host here replaces the URL's
  std::string body;                            // request body (Content-Length is set)
  std::string fail_if_body_not_matches;        // PCRE2 regex (config/regex.h); empty: none
  // More regexes the body must match, each of them (a blackbox module's
  // fail_if_body_not_matches_regexp list, for /probe); the TOML has only the one key above.
  std::vector<std::string> fail_if_body_not_matches_more;
  IpProtocol ip_protocol = IpProtocol::kAuto;
  TlsSettings tls;
  PoolSettings pool;    // [pool] with this target's overrides applied
  RetrySettings retry;  // [retry] with this target's overrides applied

  bool operator==(const Target&) const = default;
};

// The /probe endpoint (SPEC §3 [probe]): blackbox_exporter modules, and how many (module, target)
// pools stay warm between scrapes.
struct ProbeSettings {
  // A blackbox_exporter configuration (YAML `modules:`, config/probe_modules.h). A relative path
  // is relative to the TOML file's directory. --probe.config.file overrides it. Empty: /probe
  // answers 400 for every module.
  std::string config_file;
  int max_pools = 1000;  // (module, target) pools kept between scrapes; LRU eviction beyond
  // /probe requests probing at once; beyond it a 503 at once, so that a slow outage cannot take
  // the web server's 256 connection slots and /metrics and /-/healthy always have some (1-200).
  int max_concurrent = 128;
  // How long a /probe pool keeps an idle connection: replaces [pool] idle_timeout (30 s), which is
  // shorter than Prometheus' usual 1 m scrape interval and would leave nothing to reuse. The
  // server's Keep-Alive timeout and the pool's idle watch still retire what the server closes.
  Duration idle_timeout = 5min;

  bool operator==(const ProbeSettings&) const = default;
};

struct Config {
  std::filesystem::path source;  // the file it came from; empty for built-in defaults
  AgentSettings agent;
  WebSettings web;
  CaptureSettings capture;
  SocketsSettings sockets;
  PoolSettings pool;
  RetrySettings retry;
  ProbeSettings probe;
  std::vector<Target> targets;
};

}  // namespace connwatch::config
