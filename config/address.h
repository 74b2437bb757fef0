// The two kinds of address a config names: a probe target URL and the agent's listen address.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace connwatch::config {

enum class Scheme { kHttp, kHttps, kTcp };

// "http", "https", "tcp": the URL scheme, also the `kind` a probe registers under.
std::string_view to_string(Scheme scheme);

// A probe target: http://host[:port]/path, https://..., tcp://host:port.
struct TargetUrl {
  Scheme scheme = Scheme::kHttp;
  std::string host;  // a name or an IP literal, without IPv6 brackets
  std::uint16_t port = 0;
  std::string path;  // "/..." with the query; empty for tcp://

  // host:port, IPv6 literals in brackets: what a Host header or a log line shows.
  std::string authority() const;

  bool operator==(const TargetUrl&) const = default;
};

// Parses a target URL; on failure returns nullopt and says why in `error`. Bytes an HTTP request
// line cannot carry raw (controls below 0x21 - CR, LF, NUL, space, tab - and DEL 0x7f) are refused
// anywhere after the scheme, so a percent-decoded /probe target cannot smuggle headers.
std::optional<TargetUrl> parse_target_url(std::string_view text, std::string& error);

// Where /metrics listens: ":9873" (every address), "127.0.0.1:9873", "[::1]:9873".
struct ListenAddress {
  std::string host;  // empty = every address
  std::uint16_t port = 0;

  std::string to_string() const;

  bool operator==(const ListenAddress&) const = default;
};

std::optional<ListenAddress> parse_listen_address(std::string_view text, std::string& error);

}  // namespace connwatch::config
