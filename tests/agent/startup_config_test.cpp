// What the agent starts with: the TOML config and its blackbox module file, read once by
// load_startup_config and handed to the agent (a broken module file is exit 2 with file:line).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "agent/agent.h"

namespace connwatch::agent {
namespace {

class StartupConfigTest : public ::testing::Test {
 protected:
  StartupConfigTest() {
    char tmpl[] = "/tmp/connwatch-startup-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    write("agent.toml", "[probe]\nconfig_file = \"blackbox.yml\"\n");
    cli_.config_path = (dir_ / "agent.toml").string();
  }
  ~StartupConfigTest() override { std::filesystem::remove_all(dir_); }

  void write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
  }

  std::filesystem::path dir_;
  CliOptions cli_;
};

TEST_F(StartupConfigTest, TheModulesComeWithTheConfig) {
  write("blackbox.yml",
        "modules:\n  http_2xx:\n    prober: http\n  tcp_connect:\n    prober: tcp\n");
  std::ostringstream err;
  const auto startup = load_startup_config(cli_, err);
  ASSERT_TRUE(startup) << err.str();
  EXPECT_EQ(startup->config.probe.config_file, (dir_ / "blackbox.yml").string());
  ASSERT_EQ(startup->probe_modules.size(), 2U);
  EXPECT_EQ(startup->probe_modules.count("tcp_connect"), 1U);
}

TEST_F(StartupConfigTest, ABrokenModuleFileIsUnusableWithItsPlace) {
  write("blackbox.yml", "modules:\n  http_2xx:\n    prober: http\n    htpp: {}\n");
  std::ostringstream err;
  EXPECT_FALSE(load_startup_config(cli_, err));
  EXPECT_NE(err.str().find("blackbox.yml:4:5"), std::string::npos) << err.str();
}

}  // namespace
}  // namespace connwatch::agent
