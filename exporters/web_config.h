// The exporter-toolkit web configuration (the YAML file node_exporter reads with
// --web.config.file; prometheus/exporter-toolkit docs/web-configuration.md), parsed into plain
// data. Nothing here opens a certificate: tls_context.h turns TlsServerConfig into an OpenSSL
// context, web_config_watcher.h re-reads the file when it changes.
//
// Supported as exporter-toolkit defines them: tls_server_config (cert_file/key_file or inline
// cert/key, client_auth_type, client_ca_file or inline client_ca, client_allowed_sans,
// min_version, max_version, cipher_suites, curve_preferences, prefer_server_cipher_suites),
// http_server_config (headers; http2 is accepted and has no effect: the agent speaks HTTP/1.1),
// rate_limit (interval, burst) and basic_auth_users (bcrypt "$2a$/$2b$/$2y$" or sha256-crypt
// "$5$" hashes). Any other key is an error naming file:line:column.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace connwatch::exporters {

// Go's crypto/tls ClientAuthType, by the names exporter-toolkit accepts.
enum class ClientAuth {
  kNoClientCert,
  kRequestClientCert,
  kRequireAnyClientCert,
  kVerifyClientCertIfGiven,
  kRequireAndVerifyClientCert,
};
std::string_view to_string(ClientAuth auth);

// TLS protocol versions by exporter-toolkit's names: TLS10, TLS11, TLS12, TLS13.
enum class TlsVersion { kTls10, kTls11, kTls12, kTls13 };
std::string_view to_string(TlsVersion version);

struct TlsServerConfig {
  // Paths are absolute (relative ones are resolved against the YAML file's directory). A path
  // and its inline PEM twin exclude each other.
  std::filesystem::path cert_file;
  std::filesystem::path key_file;
  std::filesystem::path client_ca_file;
  std::string cert;  // inline PEM
  std::string key;
  std::string client_ca;
  ClientAuth client_auth = ClientAuth::kNoClientCert;
  std::vector<std::string> client_allowed_sans;  // DNS, IP, e-mail or URI SAN, exact match
  TlsVersion min_version = TlsVersion::kTls12;
  TlsVersion max_version = TlsVersion::kTls13;
  std::vector<std::string> cipher_suites;  // OpenSSL names of the Go names given (TLS <= 1.2)
  std::vector<std::string> curves;         // OpenSSL group names: P-256, P-384, P-521, X25519
  bool prefer_server_cipher_suites = true;

  // Whether any key turns TLS on (exporter-toolkit's IsEnabled): then a certificate is required.
  bool enabled() const;
  // The files this configuration reads, for change detection.
  std::vector<std::filesystem::path> files() const;

  bool operator==(const TlsServerConfig&) const = default;
};

struct RateLimit {
  std::chrono::milliseconds interval{0};  // 0: no limit
  int burst = 0;

  bool operator==(const RateLimit&) const = default;
};

struct WebConfig {
  std::filesystem::path source;  // the YAML file; empty when built from [web] TOML keys
  TlsServerConfig tls;
  std::map<std::string, std::string> basic_auth_users;       // user -> crypt(3) hash
  std::vector<std::pair<std::string, std::string>> headers;  // added to every response
  RateLimit rate_limit;

  bool operator==(const WebConfig&) const = default;
};

// A web configuration that cannot be used; what() is "FILE:LINE:COLUMN: key: what" when the
// problem has a place in the file, "FILE: what" otherwise.
class WebConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Parses YAML text; `source` names it in errors and anchors relative paths. Throws
// WebConfigError on syntax errors, unknown keys, wrong types and values exporter-toolkit refuses
// (unknown client_auth_type, cipher or curve, client CA without a client auth policy,
// client_allowed_sans without a required certificate, a cert without a key).
WebConfig parse_web_config(std::string_view text, const std::filesystem::path& source);
// Reads and parses the file. Throws WebConfigError, also when it cannot be read.
WebConfig load_web_config(const std::filesystem::path& path);
// The [web] TOML settings as a web configuration: `config_file` loaded, or the inline
// tls_cert/tls_key/basic_auth_users keys mapped onto the same fields.
WebConfig web_config_from_settings(const config::WebSettings& web);

}  // namespace connwatch::exporters
