// Fuzz target: the /probe query parser and the scrape-timeout header rule, which read what any
// client sends. Any bytes must be accepted or rejected without reading out of bounds, and an
// accepted query always has a target and a module.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "exporters/probe_request.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string error;
  if (const auto query = connwatch::exporters::parse_probe_query(text, error)) {
    if (query->target.empty() || query->module.empty()) __builtin_trap();
  } else if (error.empty()) {
    __builtin_trap();
  }
  using namespace std::chrono_literals;
  if (const auto timeout = connwatch::exporters::probe_timeout(
          text, std::chrono::duration<double>(5), 500ms, error)) {
    if (!(timeout->count() == timeout->count())) __builtin_trap();  // never NaN
  }
  return 0;
}
