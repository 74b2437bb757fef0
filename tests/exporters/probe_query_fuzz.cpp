// Fuzz target: the /probe query parser, the scrape-timeout header rule and redirect resolution,
// which read what any client sends. Any bytes must be accepted or rejected without reading out of
// bounds, an accepted query always has a target (at most kMaxProbeTarget bytes) and a module, and a
// budget is finite, >= 0 and <= kMaxProbeTimeout with or without a module timeout.
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "exporters/probe_request.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string error;
  if (const auto query = connwatch::exporters::parse_probe_query(text, error)) {
    if (query->target.empty() || query->module.empty() ||
        query->target.size() > connwatch::exporters::kMaxProbeTarget) {
      __builtin_trap();
    }
  } else if (error.empty()) {
    __builtin_trap();
  }
  // A Location resolved against a request: absolute http(s) or nothing, never longer than the
  // three inputs together plus a slash.
  const std::size_t half = text.size() / 2;
  if (const auto url = connwatch::exporters::redirect_target(
          "http://a.test:80", text.substr(0, half), text.substr(half))) {
    if (url->rfind("http://", 0) != 0 && url->rfind("https://", 0) != 0) __builtin_trap();
    if (url->size() > text.size() + 17 + 1) __builtin_trap();
  }
  using namespace std::chrono_literals;
  // With a module timeout and without one (the header alone decides): always finite, within
  // [0, kMaxProbeTimeout], and castable to the steady clock without overflow.
  for (const double module : {5.0, 0.0}) {
    if (const auto timeout = connwatch::exporters::probe_timeout(
            text, std::chrono::duration<double>(module), 500ms, error)) {
      const double seconds = timeout->count();
      if (!std::isfinite(seconds) || seconds < 0 ||
          seconds > connwatch::exporters::kMaxProbeTimeout.count()) {
        __builtin_trap();
      }
      if (std::chrono::duration_cast<std::chrono::steady_clock::duration>(*timeout).count() < 0) {
        __builtin_trap();
      }
    }
  }
  return 0;
}
