// Each file in tests/config/invalid/ with the exact messages a user sees for it
// (blackbox_exporter's testdata/invalid-*.yml convention): the file, line, column and dotted key,
// and what is wrong.
#include <gtest/gtest.h>

#include <filesystem>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "config/loader.h"

namespace connwatch::config {
namespace {

struct InvalidCase {
  std::string name;
  // Messages without the file name, which the test puts in front: ":line:column: key: what".
  std::vector<std::string> messages;
};

// Names the case in test output instead of dumping its bytes.
void PrintTo(const InvalidCase& c, std::ostream* os) { *os << c.name; }

const std::vector<InvalidCase> kInvalidCases = {
    {"bad_duration",
     {":2:12: sockets.interval: \"5 seconds\" is not a duration (use e.g. 250ms, 5s, 2m, 1h30m)"}},
    {"bad_jitter",
     {":2:10: retry.jitter: \"random\" is not one of none, full, equal, decorrelated"}},
    {"bad_listen_address",
     {":2:10: agent.listen: bad listen address: \"9873\" has no port (want [host]:port, as in "
      "\":9873\")"}},
    {"bad_log_level",
     {":2:13: agent.log_level: \"verbose\" is not one of debug, info, warn, error"}},
    {"bad_method",
     {":4:10: target[0].method: \"FETCH\" is not one of GET, HEAD, POST, PUT, DELETE, OPTIONS, "
      "PATCH, TRACE"}},
    {"bad_socket_namespaces",
     {":2:14: sockets.namespaces: \"containers\" is not one of all, self"}},
    {"bad_size",
     {":2:15: capture.buffer_size: \"32 megs\" is not a size (use e.g. 512KiB, 32MiB, 1GiB)"}},
    {"bad_url_port", {":3:7: target[0].url: bad URL: bad port \"99999\" (want 1-65535)"}},
    {"bad_url_scheme",
     {":3:7: target[0].url: bad URL: unsupported scheme \"ftp\" (want http, https or tcp)"}},
    {"target_url_control_bytes",
     {":3:7: target[0].url: bad URL: control character or space (0x0d) in the URL; "
      "percent-encode it (a space is %20)"}},
    {"budget_ratio_out_of_range", {":2:16: retry.budget_ratio: must be between 0 and 1, got 1.5"}},
    {"capture_port_out_of_range",
     {":2:14: capture.ports[1]: must be between 1 and 65535, got 70000"}},
    {"capture_threads_zero", {":3:11: capture.threads: must be between 1 and 64, got 0"}},
    {"capture_threads_too_many", {":3:11: capture.threads: must be between 1 and 64, got 65"}},
    {"capture_threads_on_any",
     {":2:11: capture.threads: threads = 2 needs a named interface, not \"any\": on \"any\" the "
      "two captures of a forwarded or NATed connection go to different threads and it would be "
      "counted twice"}},
    {"capture_threads_on_nflog",
     {":3:11: capture.threads: threads = 4 needs a packet interface: \"nflog:5\" is NFLOG, which "
      "cannot share its packets between threads (PACKET_FANOUT)"}},
    {"duplicate_target_name",
     {":6:8: target[1].name: duplicate target name \"api\" (first defined at line 1)"}},
    {"duration_not_string",
     {":2:16: pool.idle_timeout: want a duration string such as \"5s\", got an integer"}},
    {"empty_expect_status", {":4:17: target[0].expect_status: must not be empty"}},
    {"established_timeout_below_idle",
     {":3:23: capture.established_timeout: established_timeout (5m) must not be below "
      "flow_idle_timeout (10m)"}},
    {"max_delay_below_base_delay",
     {":3:13: retry.max_delay: max_delay (1s) must not be below base_delay (2s)"}},
    {"max_namespaces_out_of_range",
     {":2:18: sockets.max_namespaces: must be between 0 and 10000, got -1"}},
    {"missing_target_url", {":1:1: target[0].url: missing required key"}},
    {"nested_override_bad_value",
     {":6:19: target[0].pool.max_connections: must be between 1 and 1024, got 0"}},
    {"several_errors",
     {":3:13: agent.log_level: \"loud\" is not one of debug, info, warn, error",
      ":6:11: capture.snaplen: must be between 64 and 65535, got 5",
      ":7:1: capture.interfaces: unknown key (did you mean \"interface\"?)"}},
    {"snaplen_out_of_range", {":2:11: capture.snaplen: must be between 64 and 65535, got 10"}},
    {"syntax_error",
     {":1:7: syntax error: Error while parsing table header: expected ']', saw '\\n'"}},
    {"target_not_array", {":1:10: target: want an array of tables ([[target]]), got a string"}},
    {"target_bad_body_regex",
     {":4:28: target[0].fail_if_body_not_matches: \"status: (up\" is not a valid regular "
      "expression: missing closing parenthesis (at offset 11)"}},
    {"target_bad_ip_protocol",
     {":4:15: target[0].ip_protocol: \"ipv6\" is not one of auto, ip4, ip6"}},
    {"target_header_not_string",
     {":4:51: target[0].headers.X-Retries: want a string, got an integer"}},
    {"target_tls_ca_file_missing",
     {":4:15: target[0].tls_ca_file: cannot read \"/nonexistent/connwatch-ca.pem\": No such file "
      "or directory"}},
    {"target_tls_cert_without_key",
     {":4:17: target[0].tls_cert_file: needs tls_key_file: a client certificate and its key go "
      "together"}},
    {"target_override_typo",
     {":4:1: target[0].idle_timout: unknown key (did you mean \"idle_timeout\"?)"}},
    {"tcp_url_without_port",
     {":3:7: target[0].url: bad URL: tcp:// URLs need a port, as in tcp://db.internal:5432"}},
    {"tls_cert_without_key", {":1:1: web.tls_key: tls_cert and tls_key must be set together"}},
    {"web_config_file_and_inline_keys",
     {":1:1: web.config_file: config_file and tls_cert/tls_key/basic_auth_users exclude each "
      "other: put TLS and users in the web config file"}},
    {"unknown_key", {":2:1: agent.lisen: unknown key (did you mean \"listen\"?)"}},
    {"unknown_user", {":2:8: agent.user: no such user \"no-such-connwatch-user\""}},
    {"group_without_user",
     {":2:9: agent.group: group needs user: the agent changes both or neither"}},
    {"unknown_section", {":1:2: captur: unknown key (did you mean \"capture\"?)"}},
    {"wrong_type_bool", {":2:11: capture.enabled: want a boolean (true or false), got a string"}},
    {"wrong_type_int", {":2:13: capture.max_flows: want an integer, got a string"}},
};

std::filesystem::path invalid_dir() {
  return std::filesystem::path(CONNWATCH_SOURCE_DIR) / "tests/config/invalid";
}

class InvalidConfig : public ::testing::TestWithParam<InvalidCase> {};

TEST_P(InvalidConfig, IsRejectedWithItsExactMessages) {
  const auto& c = GetParam();
  const auto path = invalid_dir() / (c.name + ".toml");
  std::vector<std::string> expected;
  for (const auto& m : c.messages) expected.push_back(path.string() + m);
  try {
    load_config_file(path);
    FAIL() << path << " loaded without error";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.messages(), expected);
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, InvalidConfig, ::testing::ValuesIn(kInvalidCases),
                         [](const auto& param_info) { return param_info.param.name; });

TEST(InvalidConfig, EveryFixtureFileHasAnExpectation) {
  std::set<std::string> named;
  for (const auto& c : kInvalidCases) named.insert(c.name);
  std::set<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(invalid_dir())) {
    files.insert(entry.path().stem().string());
  }
  EXPECT_EQ(files, named);
  EXPECT_GE(files.size(), 15U);
}

}  // namespace
}  // namespace connwatch::config
