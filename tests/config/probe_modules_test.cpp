// blackbox_exporter module files as connwatch reads them (config/probe_modules.h): blackbox's own
// example modules load unchanged; unsupported keys are named with file:line:column.
#include "config/probe_modules.h"

#include <gtest/gtest.h>

#include "config/loader.h"

namespace connwatch::config {
namespace {

using namespace std::chrono_literals;

std::vector<std::string> errors_of(const std::string& yaml) {
  try {
    parse_probe_modules(yaml, "blackbox.yml");
  } catch (const ConfigError& e) {
    return e.messages();
  }
  return {};
}

TEST(ProbeModules, RedirectsAreFollowedUnlessEitherOfBlackboxsKeysSaysNot) {
  const ProbeModules m = parse_probe_modules(R"(
modules:
  follows:
    prober: http
  explicit:
    prober: http
    http:
      follow_redirects: true
  not_new:
    prober: http
    http:
      follow_redirects: false
  not_old:
    prober: http
    http:
      no_follow_redirects: true
)",
                                             "blackbox.yml");
  EXPECT_TRUE(m.at("follows").follow_redirects);
  EXPECT_TRUE(m.at("explicit").follow_redirects);
  EXPECT_FALSE(m.at("not_new").follow_redirects);
  EXPECT_FALSE(m.at("not_old").follow_redirects);
  EXPECT_EQ(errors_of("modules:\n  m:\n    prober: http\n    http:\n      follow_redirects: 3\n"),
            std::vector<std::string>{
                "blackbox.yml:5:25: modules.m.http.follow_redirects: want true or false"});
}

TEST(ProbeModules, BlackboxExampleModulesLoadUnchanged) {
  const ProbeModules m = parse_probe_modules(R"(
modules:
  http_2xx:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: "ip4"
  http_post_2xx:
    prober: http
    http:
      method: POST
      headers:
        Content-Type: application/json
      body: '{}'
      valid_status_codes: [200, 201]
      fail_if_body_not_matches_regexp:
        - "ok"
      ip_protocol_fallback: false
      tls_config:
        insecure_skip_verify: true
        server_name: api.example.com
  tcp_connect:
    prober: tcp
    timeout: 2s
)",
                                             "blackbox.yml");
  ASSERT_EQ(m.size(), 3U);
  const ProbeModule& get = m.at("http_2xx");
  EXPECT_EQ(get.prober, ProberKind::kHttp);
  EXPECT_EQ(get.timeout, 5s);
  EXPECT_TRUE(get.valid_status_codes.empty());
  EXPECT_EQ(get.preferred_ip_protocol, IpProtocol::kIp4);
  // Fallback is blackbox's default: IPv4 first, then IPv6.
  EXPECT_EQ(get.ip_protocol(), IpProtocol::kIp4First);
  const ProbeModule& post = m.at("http_post_2xx");
  EXPECT_EQ(post.timeout, 0s);  // not set: the scrape's timeout decides, as in blackbox
  EXPECT_EQ(post.method, "POST");
  EXPECT_EQ(post.headers.at("Content-Type"), "application/json");
  EXPECT_EQ(post.body, "{}");
  EXPECT_EQ(post.valid_status_codes, (std::vector<int>{200, 201}));
  EXPECT_EQ(post.fail_if_body_not_matches, (std::vector<std::string>{"ok"}));
  EXPECT_EQ(post.ip_protocol(), IpProtocol::kIp6);
  EXPECT_TRUE(post.tls.insecure_skip_verify);
  EXPECT_EQ(post.tls.server_name, "api.example.com");
  EXPECT_EQ(m.at("tcp_connect").prober, ProberKind::kTcp);
  EXPECT_EQ(m.at("tcp_connect").timeout, 2s);
}

TEST(ProbeModules, UnsupportedKeysAreNamedWithTheirPlace) {
  EXPECT_EQ(errors_of("modules:\n"
                      "  dns_udp:\n"
                      "    prober: dns\n"
                      "    dns:\n"
                      "      query_name: example.com\n"
                      "  http_2xx:\n"
                      "    prober: http\n"
                      "    http:\n"
                      "      fail_if_ssl: true\n"
                      "      method: GET\n"),
            (std::vector<std::string>{
                "blackbox.yml:3:13: modules.dns_udp.prober: \"dns\" is not supported (http, tcp)",
                "blackbox.yml:4:5: modules.dns_udp.dns: unknown or unsupported key",
                "blackbox.yml:9:7: modules.http_2xx.http.fail_if_ssl: unknown or unsupported key",
            }));
}

TEST(ProbeModules, TcpTlsConfigIsRefusedByNameNotIgnored) {
  // The tcp prober does not speak TLS: a module meant to check a certificate must not pass
  // without a handshake.
  EXPECT_EQ(errors_of("modules:\n"
                      "  tcp_tls:\n"
                      "    prober: tcp\n"
                      "    tcp:\n"
                      "      tls_config:\n"
                      "        insecure_skip_verify: true\n"),
            (std::vector<std::string>{
                "blackbox.yml:6:9: modules.tcp_tls.tcp.tls_config: not supported: connwatch's tcp "
                "prober does not speak TLS; probe TLS with an http module and an https:// target",
            }));
}

TEST(ProbeModules, BadValuesAreErrors) {
  EXPECT_EQ(errors_of("modules:\n"
                      "  a:\n"
                      "    timeout: soon\n"
                      "    http:\n"
                      "      valid_status_codes: [200, 700]\n"
                      "      fail_if_body_not_matches_regexp: ['(']\n"
                      "      preferred_ip_protocol: ipv6\n"
                      "      tls_config:\n"
                      "        ca_file: /nonexistent/ca.pem\n"),
            (std::vector<std::string>{
                "blackbox.yml:3:14: modules.a.timeout: \"soon\" is not a duration",
                "blackbox.yml:5:33: modules.a.http.valid_status_codes[1]: want a status code "
                "between 100 and 599",
                "blackbox.yml:6:41: modules.a.http.fail_if_body_not_matches_regexp[0]: \"(\" is "
                "not a valid regular expression: missing closing parenthesis (at "
                "offset 1)",
                "blackbox.yml:7:30: modules.a.http.preferred_ip_protocol: \"ipv6\" is not one of "
                "ip4, ip6",
                "blackbox.yml:9:18: modules.a.http.tls_config.ca_file: cannot read "
                "\"/nonexistent/ca.pem\": No such file or directory",
            }));
  EXPECT_EQ(
      errors_of("modules:\n  a: [\n"),
      (std::vector<std::string>{"blackbox.yml:3:1: syntax error: end of sequence flow not found"}));
  EXPECT_EQ(errors_of("module:\n  a: {}\n"),
            (std::vector<std::string>{"blackbox.yml:1:1: module: unknown or unsupported key"}));
}

TEST(ProbeModules, MissingFileNamesIt) {
  try {
    load_probe_modules_file("/nonexistent/blackbox.yml");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.messages().at(0),
              "/nonexistent/blackbox.yml: cannot read probe config file: No such file or "
              "directory");
  }
}

}  // namespace
}  // namespace connwatch::config
