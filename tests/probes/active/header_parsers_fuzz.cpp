// Fuzz target: the response-header parsers the pool and the retry policy trust
// (Retry-After, Keep-Alive, Last-Modified's HTTP-date). They must accept or reject any bytes
// without reading out of bounds.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "probes/active/keep_alive.h"
#include "probes/active/retry_after.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto now = std::chrono::system_clock::from_time_t(784111777);
  if (const auto delay = connwatch::active::parse_retry_after(text, now)) {
    if (delay->count() < 0) __builtin_trap();
  }
  if (const auto date = connwatch::active::parse_http_date(text)) {
    // Dates from 2262 on are refused (system_clock's range ends in April 2262). Compared in
    // seconds.
    const auto seconds =
        std::chrono::duration_cast<std::chrono::seconds>(date->time_since_epoch()).count();
    if (seconds >= 9214646400) __builtin_trap();  // 2262-01-01T00:00:00Z
  }
  if (const auto timeout = connwatch::active::parse_keep_alive_timeout(text)) {
    if (timeout->count() < 0) __builtin_trap();
  }
  return 0;
}
