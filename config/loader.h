// Reads and validates a TOML config. The one place in connwatch that throws on bad input.
#pragma once

#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace connwatch::config {

// Every problem found in one config, each as "file:line:column: key: what is wrong".
class ConfigError : public std::runtime_error {
 public:
  explicit ConfigError(std::vector<std::string> messages);
  const std::vector<std::string>& messages() const { return messages_; }

 private:
  std::vector<std::string> messages_;
};

// Loads `path`; throws ConfigError naming the file, line, column and dotted key of every error.
Config load_config_file(const std::filesystem::path& path);

// The same over text already in memory; `source_name` is what messages call the file.
Config parse_config(std::string_view text, const std::string& source_name);

}  // namespace connwatch::config
