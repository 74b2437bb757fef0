#include "config/address.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstdio>

namespace connwatch::config {
namespace {

bool is_ipv6_literal(const std::string& host) {
  in6_addr addr{};
  return inet_pton(AF_INET6, host.c_str(), &addr) == 1;
}

// RFC 1123 host names and IPv4 literals: letters, digits, '-', '.', '_'.
bool is_host_name(std::string_view host) {
  return !host.empty() && host.size() <= 253 && std::all_of(host.begin(), host.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_';
  });
}

std::optional<std::uint16_t> parse_port(std::string_view text) {
  unsigned value = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc{} || ptr != text.data() + text.size() || value == 0 ||
      value > 65535) {
    return std::nullopt;
  }
  return static_cast<std::uint16_t>(value);
}

// Splits "host:port", "[v6]:port" or "host"; the port part is empty when absent.
bool split_host_port(std::string_view text, std::string& host, std::string_view& port,
                     bool& has_port, std::string& error) {
  has_port = false;
  if (text.starts_with('[')) {
    const auto close = text.find(']');
    if (close == std::string_view::npos) {
      error = "unclosed '[' in IPv6 address";
      return false;
    }
    host = std::string(text.substr(1, close - 1));
    if (!is_ipv6_literal(host)) {
      error = "\"" + host + "\" is not an IPv6 address";
      return false;
    }
    const std::string_view rest = text.substr(close + 1);
    if (rest.empty()) return true;
    if (!rest.starts_with(':')) {
      error = "unexpected text after ']'";
      return false;
    }
    port = rest.substr(1);
    has_port = true;
    return true;
  }
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    host = std::string(text);
  } else {
    if (text.find(':') != colon) {
      error = "IPv6 addresses need brackets, as in [::1]:9873";
      return false;
    }
    host = std::string(text.substr(0, colon));
    port = text.substr(colon + 1);
    has_port = true;
  }
  return true;
}

// The first byte an HTTP request line cannot carry as is: controls, space and DEL (< 0x21, 0x7f).
// Sent raw, CR/LF would end the request line and smuggle headers or a second request.
std::optional<unsigned char> first_control_byte(std::string_view text) {
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x21 || byte == 0x7f) return byte;
  }
  return std::nullopt;
}

std::string bracketed(const std::string& host) {
  return host.find(':') != std::string::npos ? "[" + host + "]" : host;
}

}  // namespace

std::string_view to_string(Scheme scheme) {
  switch (scheme) {
    case Scheme::kHttp:
      return "http";
    case Scheme::kHttps:
      return "https";
    case Scheme::kTcp:
      return "tcp";
  }
  return "unknown";
}

std::string TargetUrl::authority() const { return bracketed(host) + ":" + std::to_string(port); }

std::optional<TargetUrl> parse_target_url(std::string_view text, std::string& error) {
  const auto sep = text.find("://");
  if (sep == std::string_view::npos) {
    error =
        "\"" + std::string(text) + "\" is not a URL (want http://, https:// or tcp://host:port)";
    return std::nullopt;
  }
  TargetUrl url;
  const std::string_view scheme = text.substr(0, sep);
  if (scheme == "http") {
    url.scheme = Scheme::kHttp;
    url.port = 80;
  } else if (scheme == "https") {
    url.scheme = Scheme::kHttps;
    url.port = 443;
  } else if (scheme == "tcp") {
    url.scheme = Scheme::kTcp;
  } else {
    error = "unsupported scheme \"" + std::string(scheme) + "\" (want http, https or tcp)";
    return std::nullopt;
  }
  std::string_view rest = text.substr(sep + 3);
  if (const auto byte = first_control_byte(rest)) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "0x%02x", *byte);
    error = std::string("control character or space (") + hex +
            ") in the URL; percent-encode it (a space is %20)";
    return std::nullopt;
  }
  const auto path_start = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, path_start);
  std::string_view path = path_start == std::string_view::npos ? "" : rest.substr(path_start);
  if (authority.find('@') != std::string_view::npos) {
    error = "user information in URLs is not supported";
    return std::nullopt;
  }
  std::string_view port_text;
  bool has_port = false;
  if (!split_host_port(authority, url.host, port_text, has_port, error)) return std::nullopt;
  if (url.host.empty()) {
    error = "missing host";
    return std::nullopt;
  }
  if (!is_ipv6_literal(url.host) && !is_host_name(url.host)) {
    error = "\"" + url.host + "\" is not a valid host name";
    return std::nullopt;
  }
  if (has_port) {
    const auto port = parse_port(port_text);
    if (!port) {
      error = "bad port \"" + std::string(port_text) + "\" (want 1-65535)";
      return std::nullopt;
    }
    url.port = *port;
  } else if (url.scheme == Scheme::kTcp) {
    error = "tcp:// URLs need a port, as in tcp://db.internal:5432";
    return std::nullopt;
  }
  if (path.find('#') != std::string_view::npos) path = path.substr(0, path.find('#'));
  if (url.scheme == Scheme::kTcp) {
    if (!path.empty() && path != "/") {
      error = "tcp:// URLs take no path";
      return std::nullopt;
    }
  } else {
    url.path = path.empty() || path.front() == '?' ? "/" + std::string(path) : std::string(path);
  }
  return url;
}

std::string ListenAddress::to_string() const {
  return bracketed(host) + ":" + std::to_string(port);
}

std::optional<ListenAddress> parse_listen_address(std::string_view text, std::string& error) {
  ListenAddress address;
  std::string_view port_text;
  bool has_port = false;
  if (!split_host_port(text, address.host, port_text, has_port, error)) return std::nullopt;
  if (!has_port) {
    error = "\"" + std::string(text) + "\" has no port (want [host]:port, as in \":9873\")";
    return std::nullopt;
  }
  if (!address.host.empty() && !is_ipv6_literal(address.host) && !is_host_name(address.host)) {
    error = "\"" + address.host + "\" is not a valid host";
    return std::nullopt;
  }
  const auto port = parse_port(port_text);
  if (!port) {
    error = "bad port \"" + std::string(port_text) + "\" (want 1-65535)";
    return std::nullopt;
  }
  address.port = *port;
  return address;
}

}  // namespace connwatch::config
