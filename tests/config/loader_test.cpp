#include "config/loader.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace connwatch::config {
namespace {

using namespace std::chrono_literals;

const std::filesystem::path kSource(CONNWATCH_SOURCE_DIR);

TEST(ConfigLoader, EmptyFileGivesEveryDefaultOfTheSpec) {
  const Config c = parse_config("", "empty.toml");
  EXPECT_EQ(c.agent.listen.to_string(), ":9873");
  EXPECT_EQ(c.agent.log_level, LogLevel::kInfo);
  EXPECT_TRUE(c.capture.enabled);
  EXPECT_EQ(c.capture.interface, "any");
  EXPECT_EQ(c.capture.snaplen, 128);
  EXPECT_EQ(c.capture.buffer_size, 32U << 20);
  EXPECT_EQ(c.capture.max_flows, 262144U);
  EXPECT_EQ(c.capture.flow_idle_timeout, 5min);
  EXPECT_EQ(c.capture.established_timeout, 2h);
  EXPECT_EQ(c.capture.max_peers, 20);
  EXPECT_EQ(c.capture.threads, 1);
  EXPECT_EQ(c.sockets.interval, 5s);
  EXPECT_EQ(c.sockets.max_destinations, 20);
  EXPECT_EQ(c.sockets.namespaces, SocketNamespaces::kAll);
  EXPECT_EQ(c.sockets.max_namespaces, 20);
  EXPECT_EQ(c.pool.max_connections, 4);
  EXPECT_EQ(c.pool.idle_timeout, 30s);
  EXPECT_EQ(c.pool.max_lifetime, 5min);
  EXPECT_EQ(c.pool.connect_timeout, 3s);
  EXPECT_EQ(c.pool.request_timeout, 5s);
  EXPECT_EQ(c.retry.max_attempts, 3);
  EXPECT_EQ(c.retry.base_delay, 100ms);
  EXPECT_EQ(c.retry.max_delay, 5s);
  EXPECT_EQ(c.retry.jitter, Jitter::kFull);
  EXPECT_DOUBLE_EQ(c.retry.budget_ratio, 0.2);
  EXPECT_EQ(c.probe.config_file, "");
  EXPECT_EQ(c.probe.max_pools, 1000);
  EXPECT_EQ(c.probe.max_concurrent, 128);
  EXPECT_EQ(c.probe.idle_timeout, 5min);
  EXPECT_TRUE(c.targets.empty());
}

TEST(ConfigLoader, ShippedExamplesLoadClean) {
  std::size_t loaded = 0;
  for (const auto& dir : {kSource / "config", kSource / "config/examples"}) {
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
      if (entry.path().extension() != ".toml") continue;
      SCOPED_TRACE(entry.path().string());
      EXPECT_NO_THROW(load_config_file(entry.path()));
      ++loaded;
    }
  }
  EXPECT_GE(loaded, 3U);
}

TEST(ConfigLoader, FullExampleSpellsOutTheDefaults) {
  const Config defaults = parse_config("", "empty.toml");
  const Config full = load_config_file(kSource / "config/examples/full.toml");
  EXPECT_EQ(full.capture.buffer_size, defaults.capture.buffer_size);
  EXPECT_EQ(full.pool.max_lifetime, defaults.pool.max_lifetime);
  EXPECT_EQ(full.retry.jitter, defaults.retry.jitter);
  EXPECT_EQ(full.sockets.max_destinations, defaults.sockets.max_destinations);
}

TEST(ConfigLoader, SocketsCanBeLimitedToTheAgentsOwnNamespace) {
  const Config c = parse_config("[sockets]\nnamespaces = \"self\"\nmax_namespaces = 5\n", "t.toml");
  EXPECT_EQ(c.sockets.namespaces, SocketNamespaces::kSelf);
  EXPECT_EQ(c.sockets.max_namespaces, 5);
}

TEST(ConfigLoader, TargetsInheritPoolAndRetryWhereverTheyAppear) {
  const Config c = parse_config(R"(
[[target]]
name = "api"
url = "http://api.internal:8080/healthz"

[pool]
idle_timeout = "4s"

[retry]
max_attempts = 5
)",
                                "inherit.toml");
  ASSERT_EQ(c.targets.size(), 1U);
  EXPECT_EQ(c.targets[0].pool.idle_timeout, 4s);
  EXPECT_EQ(c.targets[0].retry.max_attempts, 5);
  EXPECT_EQ(c.targets[0].pool.max_connections, 4);
}

TEST(ConfigLoader, TargetOverridesPoolAndRetryFlatOrInSubtables) {
  const Config c = load_config_file(kSource / "config/examples/services.toml");
  ASSERT_EQ(c.targets.size(), 3U);
  const Target& api = c.targets[0];
  EXPECT_EQ(api.name, "api");
  EXPECT_EQ(api.url.host, "api.internal");
  EXPECT_EQ(api.url.port, 8080);
  EXPECT_EQ(api.url.path, "/healthz");
  EXPECT_EQ(api.pool.max_lifetime, 1min);
  EXPECT_EQ(api.pool.idle_timeout, 4s);  // from [pool]
  EXPECT_EQ(api.expect_status, (std::vector<int>{200, 204}));
  const Target& payments = c.targets[1];
  EXPECT_EQ(payments.url.scheme, Scheme::kHttps);
  EXPECT_EQ(payments.url.port, 443);
  EXPECT_EQ(payments.method, "HEAD");
  EXPECT_EQ(payments.retry.max_attempts, 2);
  EXPECT_EQ(payments.retry.jitter, Jitter::kDecorrelated);
  EXPECT_EQ(payments.retry.base_delay, 100ms);
  const Target& db = c.targets[2];
  EXPECT_EQ(db.url.scheme, Scheme::kTcp);
  EXPECT_EQ(db.url.authority(), "db.internal:5432");
  EXPECT_EQ(db.retry.max_attempts, 3);  // the override stayed with its own target
  EXPECT_EQ(c.capture.ports, (std::vector<std::uint16_t>{5432, 8080}));
}

TEST(ConfigLoader, TargetRequestAndTlsKeys) {
  const Config c = parse_config(R"(
[[target]]
name = "api"
url = "https://10.0.0.1:8443/healthz"
method = "POST"
headers = { Host = "api.example.com", Authorization = "Bearer t0ken" }
body = '{"ping": 1}'
fail_if_body_not_matches = '"status":\s*"up"'
ip_protocol = "ip6"
tls_ca_file = "/dev/null"
tls_cert_file = "/dev/null"
tls_key_file = "/dev/null"
tls_server_name = "api.example.com"
tls_insecure_skip_verify = true

[[target]]
name = "plain"
url = "http://api.internal/"
)",
                                "tls.toml");
  ASSERT_EQ(c.targets.size(), 2U);
  const Target& api = c.targets[0];
  EXPECT_EQ(api.headers, (std::map<std::string, std::string>{{"Authorization", "Bearer t0ken"},
                                                             {"Host", "api.example.com"}}));
  EXPECT_EQ(api.body, R"({"ping": 1})");
  EXPECT_EQ(api.fail_if_body_not_matches, R"("status":\s*"up")");
  EXPECT_EQ(api.ip_protocol, IpProtocol::kIp6);
  EXPECT_EQ(api.tls.ca_file, "/dev/null");
  EXPECT_EQ(api.tls.key_file, "/dev/null");
  EXPECT_EQ(api.tls.server_name, "api.example.com");
  EXPECT_TRUE(api.tls.insecure_skip_verify);
  EXPECT_FALSE(api.tls.is_default());
  const Target& plain = c.targets[1];
  EXPECT_TRUE(plain.headers.empty());
  EXPECT_EQ(plain.ip_protocol, IpProtocol::kAuto);
  EXPECT_TRUE(plain.tls.is_default());
  EXPECT_EQ(to_string(plain.ip_protocol), "auto");
}

TEST(ConfigLoader, SizesAcceptIntegersAndUnits) {
  EXPECT_EQ(parse_config("[capture]\nbuffer_size = 4194304\n", "a.toml").capture.buffer_size,
            4U << 20);
  EXPECT_EQ(parse_config("[capture]\nbuffer_size = \"64MiB\"\n", "a.toml").capture.buffer_size,
            64U << 20);
}

TEST(ConfigLoader, ReportsEveryErrorNotJustTheFirst) {
  try {
    parse_config("[agent]\nlog_level = 3\n[pool]\nmax_connections = -1\nbogus = 1\n", "m.toml");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.messages().size(), 3U);
  }
}

TEST(ConfigLoader, WebConfigFileIsRelativeToTheTomlFile) {
  EXPECT_EQ(parse_config("[web]\nconfig_file = \"web.yml\"\n", "/etc/connwatch/agent.toml")
                .web.config_file,
            "/etc/connwatch/web.yml");
  EXPECT_EQ(parse_config("[web]\nconfig_file = \"/srv/web.yml\"\n", "/etc/connwatch/agent.toml")
                .web.config_file,
            "/srv/web.yml");
  EXPECT_EQ(parse_config("", "agent.toml").web.config_file, "");
}

TEST(ConfigLoader, ProbeSectionNamesTheModuleFileRelativeToTheTomlFile) {
  const Config c = parse_config("[probe]\nconfig_file = \"blackbox.yml\"\nmax_pools = 50\n",
                                "/etc/connwatch/agent.toml");
  EXPECT_EQ(c.probe.config_file, "/etc/connwatch/blackbox.yml");
  EXPECT_EQ(c.probe.max_pools, 50);
  try {
    parse_config("[probe]\nmax_pools = 0\nmodules = \"x\"\n", "agent.toml");
    FAIL() << "max_pools = 0 and an unknown key were accepted";
  } catch (const ConfigError& e) {
    ASSERT_EQ(e.messages().size(), 2U) << e.what();
    EXPECT_NE(e.messages()[0].find("agent.toml:2:13: probe.max_pools"), std::string::npos)
        << e.what();
    EXPECT_NE(e.messages()[1].find("probe.modules: unknown key"), std::string::npos) << e.what();
  }
}

TEST(ConfigLoader, ProbeMaxConcurrentLeavesTheWebServerSlots) {
  EXPECT_EQ(parse_config("", "agent.toml").probe.max_concurrent, 128);
  EXPECT_EQ(parse_config("[probe]\nmax_concurrent = 8\n", "agent.toml").probe.max_concurrent, 8);
  EXPECT_EQ(parse_config("[probe]\nidle_timeout = \"90s\"\n", "agent.toml").probe.idle_timeout,
            90s);
  try {
    parse_config("[probe]\nmax_concurrent = 256\n", "agent.toml");
    FAIL() << "max_concurrent = 256 (every connection slot) was accepted";
  } catch (const ConfigError& e) {
    ASSERT_EQ(e.messages().size(), 1U) << e.what();
    EXPECT_NE(e.messages()[0].find("agent.toml:2:18: probe.max_concurrent"), std::string::npos)
        << e.what();
  }
}

TEST(ConfigLoader, MissingFileNamesTheFile) {
  try {
    load_config_file("/nonexistent/agent.toml");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              "/nonexistent/agent.toml: cannot read config file: No such file or directory");
  }
}

}  // namespace
}  // namespace connwatch::config
