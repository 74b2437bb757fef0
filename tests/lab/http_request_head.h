// The part of an HTTP/1.x request the lab server needs: where the head ends, how long the body
// is, and whether the client wants the connection kept open.
#pragma once

#include <cstddef>
#include <string_view>

namespace connwatch::lab {

enum class HeadStatus { kIncomplete, kComplete, kMalformed };

std::string_view to_string(HeadStatus status);

struct HttpRequestHead {
  HeadStatus status = HeadStatus::kIncomplete;
  std::size_t head_bytes = 0;  // through the blank line
  std::size_t body_bytes = 0;  // from Content-Length
  bool keep_alive = false;     // RFC 9112 §9.3: 1.1 persists unless "close"; 1.0 only if asked
};

// Heads larger than this are malformed: the lab only ever sees small test requests.
inline constexpr std::size_t kMaxHeadBytes = 16 * 1024;

// Pure: looks only at `buffer`, which holds bytes received so far on one connection.
HttpRequestHead parse_http_request_head(std::string_view buffer);

}  // namespace connwatch::lab
