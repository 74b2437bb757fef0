#include "tests/lab/http_request_head.h"

#include <cctype>
#include <cstdint>

namespace connwatch::lab {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

// Connection is a comma-separated token list (RFC 9110 §7.6.1).
bool has_token(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    if (iequals(trim(list.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

std::string_view to_string(HeadStatus status) {
  switch (status) {
    case HeadStatus::kIncomplete:
      return "incomplete";
    case HeadStatus::kComplete:
      return "complete";
    case HeadStatus::kMalformed:
      return "malformed";
  }
  return "malformed";
}

HttpRequestHead parse_http_request_head(std::string_view buffer) {
  HttpRequestHead head;
  const std::size_t end = buffer.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    head.status = buffer.size() > kMaxHeadBytes ? HeadStatus::kMalformed : HeadStatus::kIncomplete;
    return head;
  }
  if (end + 4 > kMaxHeadBytes) {
    head.status = HeadStatus::kMalformed;
    return head;
  }
  head.head_bytes = end + 4;
  std::string_view rest = buffer.substr(0, end + 2);  // every line ends in CRLF

  const std::size_t line_end = rest.find("\r\n");
  const std::string_view request_line = rest.substr(0, line_end);
  rest.remove_prefix(line_end + 2);
  const std::size_t version_at = request_line.rfind(' ');
  if (version_at == std::string_view::npos || request_line.find(' ') == version_at) {
    head.status = HeadStatus::kMalformed;  // need "METHOD target VERSION"
    return head;
  }
  const std::string_view version = request_line.substr(version_at + 1);
  if (version == "HTTP/1.1") {
    head.keep_alive = true;
  } else if (version != "HTTP/1.0") {
    head.status = HeadStatus::kMalformed;
    return head;
  }

  while (!rest.empty()) {
    const std::size_t eol = rest.find("\r\n");
    const std::string_view line = rest.substr(0, eol);
    rest.remove_prefix(eol + 2);
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      head.status = HeadStatus::kMalformed;
      return head;
    }
    const std::string_view name = line.substr(0, colon);
    const std::string_view value = trim(line.substr(colon + 1));
    if (iequals(name, "Connection")) {
      if (has_token(value, "close")) head.keep_alive = false;
      if (has_token(value, "keep-alive")) head.keep_alive = true;
    } else if (iequals(name, "Content-Length")) {
      if (value.empty() || value.size() > 9) {  // the lab never needs a body of a gigabyte
        head.status = HeadStatus::kMalformed;
        return head;
      }
      std::size_t length = 0;
      for (const char c : value) {
        if (c < '0' || c > '9') {
          head.status = HeadStatus::kMalformed;
          return head;
        }
        length = length * 10 + static_cast<std::size_t>(c - '0');
      }
      head.body_bytes = length;
    } else if (iequals(name, "Transfer-Encoding")) {
      head.status = HeadStatus::kMalformed;  // chunked bodies are out of scope for a test server
      return head;
    }
  }
  head.status = HeadStatus::kComplete;
  return head;
}

}  // namespace connwatch::lab
