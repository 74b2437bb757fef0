// Fuzz target for the lab tools' parsers: whatever bytes a client sends, or whatever a flag says,
// they must not read out of bounds and must keep their invariants.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "tests/lab/duration.h"
#include "tests/lab/http_request_head.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const connwatch::lab::HttpRequestHead head = connwatch::lab::parse_http_request_head(bytes);
  if (head.status == connwatch::lab::HeadStatus::kComplete &&
      (head.head_bytes > bytes.size() || head.head_bytes > connwatch::lab::kMaxHeadBytes)) {
    std::abort();
  }
  if (const auto duration = connwatch::lab::parse_duration(bytes)) {
    if (duration->count() < 0) std::abort();
  }
  return 0;
}
