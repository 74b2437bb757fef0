// Fuzzes the config loader: any bytes either load into a Config or raise ConfigError with at least
// one message naming the source. Nothing else may escape (no other exception, no crash). Seeds:
// tests/fuzz/corpus/config/ (the shipped configs and the invalid fixtures).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "config/loader.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const connwatch::config::Config config = connwatch::config::parse_config(text, "fuzz.toml");
    // A config that loads is usable: its targets are named and have a port.
    for (const auto& t : config.targets) {
      if (t.name.empty() || t.url.port == 0) std::abort();
    }
  } catch (const connwatch::config::ConfigError& e) {
    if (e.messages().empty()) std::abort();
    for (const auto& m : e.messages()) {
      if (!std::string_view(m).starts_with("fuzz.toml")) std::abort();
    }
  }
  return 0;
}
