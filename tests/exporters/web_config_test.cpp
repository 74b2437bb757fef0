// The exporter-toolkit web configuration: node_exporter's files parse unchanged, every key
// exporter-toolkit documents is understood, and anything else is an error naming file:line.
#include "exporters/web_config.h"

#include <gtest/gtest.h>

#include "exporters/basic_auth.h"
#include "exporters/web_config_watcher.h"

namespace connwatch::exporters {
namespace {

using namespace std::chrono_literals;

std::string error_of(std::string_view yaml) {
  try {
    parse_web_config(yaml, "/etc/connwatch/web.yml");
  } catch (const WebConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

// exporter-toolkit's docs/web-config.yml (the users' passwords are not public; this one's is
// "s3cret", hashed with bcrypt and written with htpasswd's $2y$ prefix).
constexpr std::string_view kToolkitSample = R"(# TLS and basic authentication configuration example.
#
# Additionally, a certificate and a key file are needed.
tls_server_config:
  cert_file: server.crt
  key_file: server.key

# Usernames and passwords required to connect.
basic_auth_users:
  alice: $2y$10$g7Rg6TcS4wma1Nvd878wmu6vx4xHkFpIhrCXCni0yC2pCgEeQtj8G
)";

TEST(WebConfig, ReadsTheExporterToolkitSampleUnchanged) {
  const WebConfig web = parse_web_config(kToolkitSample, "/etc/node_exporter/web.yml");
  EXPECT_EQ(web.tls.cert_file, "/etc/node_exporter/server.crt");  // relative to the file
  EXPECT_EQ(web.tls.key_file, "/etc/node_exporter/server.key");
  EXPECT_TRUE(web.tls.enabled());
  EXPECT_EQ(web.tls.client_auth, ClientAuth::kNoClientCert);
  EXPECT_EQ(web.tls.min_version, TlsVersion::kTls12);
  EXPECT_EQ(web.tls.max_version, TlsVersion::kTls13);
  ASSERT_EQ(web.basic_auth_users.size(), 1u);
  BasicAuth auth(web.basic_auth_users);
  EXPECT_TRUE(auth.allows("Basic YWxpY2U6czNjcmV0"));   // alice:s3cret
  EXPECT_FALSE(auth.allows("Basic YWxpY2U6d3Jvbmc="));  // alice:wrong
}

TEST(WebConfig, ReadsEveryDocumentedKey) {
  const WebConfig web = parse_web_config(R"(
tls_server_config:
  cert_file: /tls/server.crt
  key_file: /tls/server.key
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: ca.pem
  client_allowed_sans: [prometheus.example.com, 10.0.0.1]
  min_version: TLS13
  max_version: TLS13
  cipher_suites:
    - TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
    - TLS_AES_128_GCM_SHA256
  curve_preferences: [X25519, CurveP256]
  prefer_server_cipher_suites: false
http_server_config:
  http2: false
  headers:
    X-Frame-Options: deny
    Strict-Transport-Security: max-age=31536000
rate_limit:
  interval: 100ms
  burst: 5
basic_auth_users: {}
)",
                                         "/etc/connwatch/web.yml");
  EXPECT_EQ(web.tls.client_auth, ClientAuth::kRequireAndVerifyClientCert);
  EXPECT_EQ(web.tls.client_ca_file, "/etc/connwatch/ca.pem");
  EXPECT_EQ(web.tls.client_allowed_sans,
            (std::vector<std::string>{"prometheus.example.com", "10.0.0.1"}));
  EXPECT_EQ(web.tls.min_version, TlsVersion::kTls13);
  // Go names map to OpenSSL's; TLS 1.3 suites are not configurable, as in Go.
  EXPECT_EQ(web.tls.cipher_suites, std::vector<std::string>{"ECDHE-RSA-AES128-GCM-SHA256"});
  EXPECT_EQ(web.tls.curves, (std::vector<std::string>{"X25519", "P-256"}));
  EXPECT_FALSE(web.tls.prefer_server_cipher_suites);
  ASSERT_EQ(web.headers.size(), 2u);
  EXPECT_EQ(web.headers[0].first, "X-Frame-Options");
  EXPECT_EQ(web.rate_limit.interval, 100ms);
  EXPECT_EQ(web.rate_limit.burst, 5);
  EXPECT_TRUE(web.basic_auth_users.empty());
  EXPECT_EQ(web.tls.files().size(), 3u);
}

TEST(WebConfig, AnEmptyFileIsPlainHttpWithoutUsers) {
  const WebConfig web = parse_web_config("", "/w.yml");
  EXPECT_FALSE(web.tls.enabled());
  EXPECT_TRUE(web.basic_auth_users.empty());
  EXPECT_FALSE(parse_web_config("tls_server_config:\n", "/w.yml").tls.enabled());
}

TEST(WebConfig, ErrorsNameFileLineColumnAndKey) {
  EXPECT_EQ(error_of("tls_server_config:\n  cert_file: a\n  key_file: b\n  cert_flie: c\n"),
            "/etc/connwatch/web.yml:4:3: tls_server_config.cert_flie: unknown key");
  EXPECT_EQ(error_of("basic_auth_users:\n  bob: x\nextra: 1\n"),
            "/etc/connwatch/web.yml:3:1: extra: unknown key");
  EXPECT_EQ(error_of("tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS14\n"),
            "/etc/connwatch/web.yml:4:16: tls_server_config.min_version: unknown TLS version "
            "\"TLS14\" (TLS10, TLS11, TLS12, TLS13)");
  EXPECT_NE(error_of("tls_server_config: [\n").find("/etc/connwatch/web.yml:2:1: syntax error"),
            std::string::npos)
      << error_of("tls_server_config: [\n");
  EXPECT_NE(error_of("basic_auth_users:\n  bob: plaintext\n").find(":2:8: basic_auth_users.bob:"),
            std::string::npos);
  EXPECT_NE(error_of("tls_server_config:\n  cert_file: [a]\n")
                .find(":2:14: tls_server_config.cert_file: want a string"),
            std::string::npos);
  EXPECT_NE(error_of("http_server_config:\n  http2: maybe\n").find("want true or false"),
            std::string::npos);
  EXPECT_NE(error_of("http_server_config:\n  headers:\n    X-Powered-By: me\n")
                .find(":3:19: http_server_config.headers.X-Powered-By: HTTP header can not be"),
            std::string::npos);
  EXPECT_NE(error_of("http_server_config:\n  headers:\n    X-Frame-Options: allow\n")
                .find("invalid value"),
            std::string::npos);
  EXPECT_NE(error_of("rate_limit:\n  interval: soon\n").find(":2:13: rate_limit.interval"),
            std::string::npos);
  EXPECT_NE(error_of("tls_server_config:\n  cert_file: a\n  key_file: b\n"
                     "  cipher_suites: [TLS_NOPE]\n")
                .find("unknown cipher: TLS_NOPE"),
            std::string::npos);
}

TEST(WebConfig, RefusesWhatExporterToolkitRefuses) {
  EXPECT_NE(error_of("tls_server_config:\n  cert_file: a\n").find("missing one of key or key_file"),
            std::string::npos);
  EXPECT_NE(error_of("tls_server_config:\n  client_auth_type: RequireAndVerifyClientCert\n")
                .find("missing one of cert or cert_file"),
            std::string::npos);
  EXPECT_NE(error_of("tls_server_config:\n  cert_file: a\n  key_file: b\n"
                     "  client_auth_type: Sometimes\n")
                .find("unknown client_auth_type \"Sometimes\""),
            std::string::npos);
  EXPECT_NE(error_of("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_ca_file: ca\n")
                .find("without a Client Auth Policy"),
            std::string::npos);
  EXPECT_NE(error_of("tls_server_config:\n  cert_file: a\n  key_file: b\n"
                     "  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: ca\n"
                     "  client_allowed_sans: [x]\n")
                .find("client_allowed_sans requires client_auth_type"),
            std::string::npos);
  EXPECT_NE(error_of("tls_server_config:\n  cert_file: a\n  cert: PEM\n  key_file: b\n")
                .find("set cert or cert_file, not both"),
            std::string::npos);
  EXPECT_NE(error_of("tls_server_config:\n  cert_file: a\n  key_file: b\n"
                     "  min_version: TLS13\n  max_version: TLS12\n")
                .find("min_version is above max_version"),
            std::string::npos);
  // The older spelling RequireClientCert is still RequireAnyClientCert.
  EXPECT_EQ(parse_web_config("tls_server_config:\n  cert_file: a\n  key_file: b\n"
                             "  client_auth_type: RequireClientCert\n",
                             "/w.yml")
                .tls.client_auth,
            ClientAuth::kRequireAnyClientCert);
}

TEST(WebConfig, TheInlineTomlKeysMapOntoTheSameSettings) {
  config::WebSettings settings;
  settings.tls_cert = "/tls/c.pem";
  settings.tls_key = "/tls/k.pem";
  settings.basic_auth_users = {{"prometheus", "$5$salt$hash"}};
  const WebConfig web = web_config_from_settings(settings);
  EXPECT_TRUE(web.source.empty());
  EXPECT_EQ(web.tls.cert_file, "/tls/c.pem");
  EXPECT_EQ(web.tls.key_file, "/tls/k.pem");
  EXPECT_EQ(web.basic_auth_users, settings.basic_auth_users);
  EXPECT_FALSE(web_config_from_settings({}).tls.enabled());
}

TEST(WebConfig, AMissingFileIsAnErrorNamingIt) {
  config::WebSettings settings;
  settings.config_file = "/nonexistent/web.yml";
  try {
    WebConfigWatcher watcher(settings);
    FAIL() << "no error";
  } catch (const WebConfigError& e) {
    EXPECT_EQ(std::string(e.what()), "/nonexistent/web.yml: cannot read web config file");
  }
}

TEST(RequestRateLimit, AllowsABurstThenOneRequestPerInterval) {
  RequestRateLimit limit({100ms, 2});
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(limit.allow(t0));
  EXPECT_TRUE(limit.allow(t0));
  EXPECT_FALSE(limit.allow(t0 + 10ms));
  EXPECT_TRUE(limit.allow(t0 + 120ms));
  EXPECT_FALSE(limit.allow(t0 + 130ms));
  RequestRateLimit off({0ms, 0});
  EXPECT_TRUE(off.allow(t0));
}

}  // namespace
}  // namespace connwatch::exporters
