#include "exporters/web_config.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <utility>

#include "config/units.h"

namespace connwatch::exporters {

namespace {

// Go's crypto/tls cipher suite names (tls.CipherSuites()) and OpenSSL's for the same suite. The
// TLS 1.3 suites map to nothing: Go ignores them in CipherSuites, and so does the agent.
constexpr std::array<std::pair<std::string_view, std::string_view>, 17> kCiphers{{
    {"TLS_RSA_WITH_AES_128_CBC_SHA", "AES128-SHA"},
    {"TLS_RSA_WITH_AES_256_CBC_SHA", "AES256-SHA"},
    {"TLS_RSA_WITH_AES_128_GCM_SHA256", "AES128-GCM-SHA256"},
    {"TLS_RSA_WITH_AES_256_GCM_SHA384", "AES256-GCM-SHA384"},
    {"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "ECDHE-ECDSA-AES128-SHA"},
    {"TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", "ECDHE-ECDSA-AES256-SHA"},
    {"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "ECDHE-RSA-AES128-SHA"},
    {"TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "ECDHE-RSA-AES256-SHA"},
    {"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256"},
    {"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "ECDHE-ECDSA-AES256-GCM-SHA384"},
    {"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256"},
    {"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE-RSA-AES256-GCM-SHA384"},
    {"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-RSA-CHACHA20-POLY1305"},
    {"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305"},
    {"TLS_AES_128_GCM_SHA256", ""},
    {"TLS_AES_256_GCM_SHA384", ""},
    {"TLS_CHACHA20_POLY1305_SHA256", ""},
}};

constexpr std::array<std::pair<std::string_view, std::string_view>, 4> kCurves{{
    {"CurveP256", "P-256"},
    {"CurveP384", "P-384"},
    {"CurveP521", "P-521"},
    {"X25519", "X25519"},
}};

// exporter-toolkit's http_server_config.headers: the names it allows, and the values it allows
// for each (lower case; empty: any value).
const std::map<std::string, std::vector<std::string>, std::less<>>& allowed_headers() {
  static const std::map<std::string, std::vector<std::string>, std::less<>> headers{
      {"Strict-Transport-Security", {}},
      {"X-Content-Type-Options", {"nosniff"}},
      {"X-Frame-Options", {"deny", "sameorigin"}},
      {"X-XSS-Protection", {}},
      {"Content-Security-Policy", {}},
  };
  return headers;
}

// Walks the YAML tree with the file name at hand, so every error names file:line:column.
class Reader {
 public:
  explicit Reader(std::string file) : file_(std::move(file)) {}

  [[noreturn]] void fail(const YAML::Node& node, std::string_view key,
                         std::string_view what) const {
    const YAML::Mark mark = node.Mark();
    if (mark.is_null()) throw WebConfigError(fmt::format("{}: {}: {}", file_, key, what));
    throw WebConfigError(
        fmt::format("{}:{}:{}: {}: {}", file_, mark.line + 1, mark.column + 1, key, what));
  }

  // The entries of a mapping, each key checked against `known`; null (an empty section) is none.
  std::vector<std::pair<std::string, YAML::Node>> entries(const YAML::Node& node,
                                                          std::string_view key,
                                                          const std::set<std::string>* known) {
    std::vector<std::pair<std::string, YAML::Node>> out;
    if (!node || node.IsNull()) return out;
    if (!node.IsMap()) fail(node, key, "want a mapping");
    std::set<std::string> seen;
    for (const auto& entry : node) {
      if (!entry.first.IsScalar()) fail(entry.first, key, "want scalar keys");
      const std::string name = entry.first.Scalar();
      const std::string dotted = key.empty() ? name : std::string(key) + "." + name;
      if (known != nullptr && !known->contains(name)) fail(entry.first, dotted, "unknown key");
      if (!seen.insert(name).second) fail(entry.first, dotted, "duplicate key");
      out.emplace_back(name, entry.second);
    }
    return out;
  }

  std::string string(const YAML::Node& node, std::string_view key) const {
    if (node.IsNull()) return {};
    if (!node.IsScalar()) fail(node, key, "want a string");
    return node.Scalar();
  }

  bool boolean(const YAML::Node& node, std::string_view key) const {
    bool value = false;
    if (!node.IsScalar() || !YAML::convert<bool>::decode(node, value)) {
      fail(node, key, "want true or false");
    }
    return value;
  }

  std::vector<std::string> strings(const YAML::Node& node, std::string_view key) const {
    std::vector<std::string> out;
    if (node.IsNull()) return out;
    if (!node.IsSequence()) fail(node, key, "want a list of strings");
    for (const auto& item : node) out.push_back(string(item, key));
    return out;
  }

  std::filesystem::path path(const YAML::Node& node, std::string_view key,
                             const std::filesystem::path& dir) const {
    const std::string text = string(node, key);
    if (text.empty()) return {};
    const std::filesystem::path p(text);
    return p.is_relative() ? dir / p : p;
  }

 private:
  std::string file_;
};

TlsVersion parse_version(Reader& r, const YAML::Node& node, std::string_view key) {
  const std::string text = r.string(node, key);
  if (text == "TLS10") return TlsVersion::kTls10;
  if (text == "TLS11") return TlsVersion::kTls11;
  if (text == "TLS12") return TlsVersion::kTls12;
  if (text == "TLS13") return TlsVersion::kTls13;
  r.fail(node, key, "unknown TLS version \"" + text + "\" (TLS10, TLS11, TLS12, TLS13)");
}

ClientAuth parse_client_auth(Reader& r, const YAML::Node& node, std::string_view key) {
  const std::string text = r.string(node, key);
  if (text.empty() || text == "NoClientCert") return ClientAuth::kNoClientCert;
  if (text == "RequestClientCert") return ClientAuth::kRequestClientCert;
  // "RequireClientCert" is exporter-toolkit's older spelling, still accepted there.
  if (text == "RequireAnyClientCert" || text == "RequireClientCert") {
    return ClientAuth::kRequireAnyClientCert;
  }
  if (text == "VerifyClientCertIfGiven") return ClientAuth::kVerifyClientCertIfGiven;
  if (text == "RequireAndVerifyClientCert") return ClientAuth::kRequireAndVerifyClientCert;
  r.fail(node, key,
         "unknown client_auth_type \"" + text +
             "\" (NoClientCert, RequestClientCert, RequireAnyClientCert, "
             "VerifyClientCertIfGiven, RequireAndVerifyClientCert)");
}

TlsServerConfig parse_tls(Reader& r, const YAML::Node& node, const std::filesystem::path& dir) {
  static const std::set<std::string> known{"cert",
                                           "key",
                                           "client_ca",
                                           "cert_file",
                                           "key_file",
                                           "client_ca_file",
                                           "client_auth_type",
                                           "client_allowed_sans",
                                           "min_version",
                                           "max_version",
                                           "cipher_suites",
                                           "curve_preferences",
                                           "prefer_server_cipher_suites"};
  TlsServerConfig tls;
  const std::string section = "tls_server_config";
  std::optional<YAML::Node> sans_node;
  std::optional<YAML::Node> ca_node;
  for (const auto& [name, value] : r.entries(node, section, &known)) {
    const std::string key = section + "." + name;
    if (name == "cert") tls.cert = r.string(value, key);
    if (name == "key") tls.key = r.string(value, key);
    if (name == "client_ca") tls.client_ca = r.string(value, key), ca_node = value;
    if (name == "cert_file") tls.cert_file = r.path(value, key, dir);
    if (name == "key_file") tls.key_file = r.path(value, key, dir);
    if (name == "client_ca_file") tls.client_ca_file = r.path(value, key, dir), ca_node = value;
    if (name == "client_auth_type") tls.client_auth = parse_client_auth(r, value, key);
    if (name == "min_version") tls.min_version = parse_version(r, value, key);
    if (name == "max_version") tls.max_version = parse_version(r, value, key);
    if (name == "prefer_server_cipher_suites") {
      tls.prefer_server_cipher_suites = r.boolean(value, key);
    }
    if (name == "client_allowed_sans") {
      tls.client_allowed_sans = r.strings(value, key);
      sans_node = value;
    }
    if (name == "cipher_suites") {
      if (!value.IsNull() && !value.IsSequence()) r.fail(value, key, "want a list of strings");
      for (const auto& item : value) {
        const std::string cipher = r.string(item, key);
        const auto* it = std::find_if(kCiphers.begin(), kCiphers.end(),
                                      [&](const auto& c) { return c.first == cipher; });
        if (it == kCiphers.end()) r.fail(item, key, "unknown cipher: " + cipher);
        if (!it->second.empty()) tls.cipher_suites.emplace_back(it->second);
      }
    }
    if (name == "curve_preferences") {
      if (!value.IsNull() && !value.IsSequence()) r.fail(value, key, "want a list of strings");
      for (const auto& item : value) {
        const std::string curve = r.string(item, key);
        const auto* it = std::find_if(kCurves.begin(), kCurves.end(),
                                      [&](const auto& c) { return c.first == curve; });
        if (it == kCurves.end()) r.fail(item, key, "unknown curve: " + curve);
        tls.curves.emplace_back(it->second);
      }
    }
  }
  if (!tls.enabled()) return tls;
  const auto both = [&](bool path, bool inline_pem, std::string_view what) {
    if (path && inline_pem) {
      r.fail(node, section, fmt::format("set {0} or {0}_file, not both", what));
    }
    if (!path && !inline_pem)
      r.fail(node, section, fmt::format("missing one of {0} or {0}_file", what));
  };
  both(!tls.cert_file.empty(), !tls.cert.empty(), "cert");
  both(!tls.key_file.empty(), !tls.key.empty(), "key");
  if (!tls.client_ca_file.empty() && !tls.client_ca.empty()) {
    r.fail(node, section, "set client_ca or client_ca_file, not both");
  }
  if (ca_node && tls.client_auth == ClientAuth::kNoClientCert &&
      (!tls.client_ca_file.empty() || !tls.client_ca.empty())) {
    r.fail(*ca_node, section + ".client_ca_file",
           "client CA's have been configured without a Client Auth Policy (client_auth_type)");
  }
  if (sans_node && tls.client_auth != ClientAuth::kRequireAnyClientCert &&
      tls.client_auth != ClientAuth::kRequireAndVerifyClientCert) {
    r.fail(*sans_node, section + ".client_allowed_sans",
           "client_allowed_sans requires client_auth_type to be one of RequireAnyClientCert or "
           "RequireAndVerifyClientCert");
  }
  if (tls.min_version > tls.max_version) {
    r.fail(node, section, "min_version is above max_version");
  }
  return tls;
}

// crypt(3) hashes the agent verifies: bcrypt ($2a$, $2b$, $2y$ with a two-digit cost) and
// sha256-crypt ($5$). Anything else would never match a password, so it is refused at load.
bool known_hash(std::string_view hash) {
  if (hash.starts_with("$5$")) return hash.size() > 3;
  if (hash.size() != 60 || hash[0] != '$' || hash[1] != '2' || hash[3] != '$' || hash[6] != '$') {
    return false;
  }
  return (hash[2] == 'a' || hash[2] == 'b' || hash[2] == 'y') &&
         std::isdigit(static_cast<unsigned char>(hash[4])) != 0 &&
         std::isdigit(static_cast<unsigned char>(hash[5])) != 0;
}

}  // namespace

std::string_view to_string(ClientAuth auth) {
  switch (auth) {
    case ClientAuth::kNoClientCert:
      return "NoClientCert";
    case ClientAuth::kRequestClientCert:
      return "RequestClientCert";
    case ClientAuth::kRequireAnyClientCert:
      return "RequireAnyClientCert";
    case ClientAuth::kVerifyClientCertIfGiven:
      return "VerifyClientCertIfGiven";
    case ClientAuth::kRequireAndVerifyClientCert:
      return "RequireAndVerifyClientCert";
  }
  return "NoClientCert";
}

std::string_view to_string(TlsVersion version) {
  switch (version) {
    case TlsVersion::kTls10:
      return "TLS10";
    case TlsVersion::kTls11:
      return "TLS11";
    case TlsVersion::kTls12:
      return "TLS12";
    case TlsVersion::kTls13:
      return "TLS13";
  }
  return "TLS12";
}

bool TlsServerConfig::enabled() const {
  return !cert_file.empty() || !cert.empty() || !key_file.empty() || !key.empty() ||
         !client_ca_file.empty() || !client_ca.empty() || client_auth != ClientAuth::kNoClientCert;
}

std::vector<std::filesystem::path> TlsServerConfig::files() const {
  std::vector<std::filesystem::path> out;
  for (const auto* p : {&cert_file, &key_file, &client_ca_file}) {
    if (!p->empty()) out.push_back(*p);
  }
  return out;
}

WebConfig parse_web_config(std::string_view text, const std::filesystem::path& source) {
  Reader r(source.string());
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::ParserException& e) {
    throw WebConfigError(fmt::format("{}:{}:{}: syntax error: {}", source.string(), e.mark.line + 1,
                                     e.mark.column + 1, e.msg));
  }
  WebConfig web;
  web.source = source;
  const std::filesystem::path dir = source.parent_path();
  static const std::set<std::string> known{"tls_server_config", "http_server_config",
                                           "basic_auth_users", "rate_limit"};
  try {
    for (const auto& [name, value] : r.entries(root, "", &known)) {
      if (name == "tls_server_config") web.tls = parse_tls(r, value, dir);
      if (name == "basic_auth_users") {
        for (const auto& [user, hash_node] : r.entries(value, name, nullptr)) {
          const std::string key = name + "." + user;
          const std::string hash = r.string(hash_node, key);
          if (!known_hash(hash)) {
            r.fail(hash_node, key, "want a bcrypt ($2y$...) or sha256-crypt ($5$...) hash");
          }
          web.basic_auth_users[user] = hash;
        }
      }
      if (name == "http_server_config") {
        static const std::set<std::string> http_keys{"http2", "headers"};
        for (const auto& [key, item] : r.entries(value, name, &http_keys)) {
          const std::string dotted = name + "." + key;
          if (key == "http2") r.boolean(item, dotted);  // HTTP/1.1 only: accepted, no effect
          if (key != "headers") continue;
          for (const auto& [header, header_value] : r.entries(item, dotted, nullptr)) {
            const std::string header_key = dotted + "." + header;
            const auto allowed = allowed_headers().find(header);
            if (allowed == allowed_headers().end()) {
              r.fail(header_value, header_key, "HTTP header can not be configured");
            }
            std::string v = r.string(header_value, header_key);
            std::string lower = v;
            std::transform(lower.begin(), lower.end(), lower.begin(),
                           [](unsigned char c) { return std::tolower(c); });
            if (!allowed->second.empty() &&
                std::find(allowed->second.begin(), allowed->second.end(), lower) ==
                    allowed->second.end()) {
              r.fail(header_value, header_key, "invalid value \"" + v + "\"");
            }
            if (!v.empty()) web.headers.emplace_back(header, std::move(v));
          }
        }
      }
      if (name == "rate_limit") {
        static const std::set<std::string> rate_keys{"interval", "burst"};
        for (const auto& [key, item] : r.entries(value, name, &rate_keys)) {
          const std::string dotted = name + "." + key;
          if (key == "interval") {
            const auto d = config::parse_duration(r.string(item, dotted));
            if (!d) r.fail(item, dotted, "want a duration such as 100ms or 1s");
            web.rate_limit.interval = *d;
          }
          if (key == "burst") {
            int burst = 0;
            if (!item.IsScalar() || !YAML::convert<int>::decode(item, burst) || burst < 0) {
              r.fail(item, dotted, "want a non-negative integer");
            }
            web.rate_limit.burst = burst;
          }
        }
      }
    }
  } catch (const YAML::Exception& e) {
    throw WebConfigError(
        fmt::format("{}:{}:{}: {}", source.string(), e.mark.line + 1, e.mark.column + 1, e.msg));
  }
  return web;
}

WebConfig load_web_config(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw WebConfigError(fmt::format("{}: cannot read web config file", path.string()));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw WebConfigError(fmt::format("{}: read error", path.string()));
  return parse_web_config(text.str(), path);
}

WebConfig web_config_from_settings(const config::WebSettings& web) {
  if (!web.config_file.empty()) return load_web_config(web.config_file);
  WebConfig out;
  out.tls.cert_file = web.tls_cert;
  out.tls.key_file = web.tls_key;
  out.basic_auth_users = web.basic_auth_users;
  return out;
}

}  // namespace connwatch::exporters
