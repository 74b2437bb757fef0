#include "exporters/probe_request.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <string>

namespace connwatch::exporters {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Go's url.QueryUnescape: '+' is a space, %XX a byte; a bad escape is an error.
std::optional<std::string> unescape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '+') {
      out += ' ';
    } else if (c == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      const int high = hex_value(text[i + 1]);
      const int low = hex_value(text[i + 2]);
      if (high < 0 || low < 0) return std::nullopt;
      out += static_cast<char>(high * 16 + low);
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

std::optional<ProbeQuery> parse_probe_query(std::string_view request_target, std::string& error) {
  const auto question = request_target.find('?');
  std::string_view query =
      question == std::string_view::npos ? std::string_view{} : request_target.substr(question + 1);
  if (const auto hash = query.find('#'); hash != std::string_view::npos)
    query = query.substr(0, hash);
  ProbeQuery result;
  bool have_target = false, have_module = false, have_debug = false;
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (pair.empty()) continue;
    const auto eq = pair.find('=');
    const auto key = unescape(pair.substr(0, eq));
    if (!key) continue;  // Go's r.URL.Query() drops the pair
    const bool wanted = (*key == "target" && !have_target) || (*key == "module" && !have_module);
    const auto value =
        unescape(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1));
    if (!value) {
      if (!wanted) continue;  // as Go: another key's bad escape does not matter
      error = "malformed query: bad %-escape in \"" + std::string(pair) + "\"";
      return std::nullopt;
    }
    if (*key == "target" && !have_target) {
      result.target = *value;
      have_target = true;
    } else if (*key == "module" && !have_module) {
      if (!value->empty()) result.module = *value;
      have_module = true;
    }
    if (*key == "debug" && !have_debug) {
      result.debug = *value == "true";  // blackbox: r.URL.Query().Get("debug") == "true"
      have_debug = true;
    }
  }
  if (result.target.empty()) {
    error = "Target parameter is missing";
    return std::nullopt;
  }
  if (result.target.size() > kMaxProbeTarget) {
    error = "target is " + std::to_string(result.target.size()) + " bytes long (at most " +
            std::to_string(kMaxProbeTarget) + ")";
    return std::nullopt;
  }
  return result;
}

std::optional<std::chrono::duration<double>> probe_timeout(std::optional<std::string_view> header,
                                                           std::chrono::duration<double> module,
                                                           std::chrono::duration<double> offset,
                                                           std::string& error) {
  double scrape = 0;
  if (header && !header->empty()) {
    const std::string text(*header);
    char* end = nullptr;
    scrape = std::strtod(text.c_str(), &end);
    if (end == text.c_str() || *end != '\0' || !std::isfinite(scrape)) {
      error = "X-Prometheus-Scrape-Timeout-Seconds: \"" + text + "\" is not a number";
      return std::nullopt;
    }
  }
  if (scrape == 0) scrape = 120;  // blackbox's value when Prometheus sent none
  const double most = scrape - offset.count();
  double seconds = most;
  // blackbox: below the offset the module's timeout, which is 0 (an expired budget) when unset.
  if ((module.count() > 0 && module.count() < most) || most < 0) seconds = module.count();
  // Before anyone casts it to a clock duration: 1e300 s would overflow (and a NaN module timeout
  // must not pass through).
  if (!(seconds >= 0)) seconds = 0;
  if (seconds > kMaxProbeTimeout.count()) seconds = kMaxProbeTimeout.count();
  return std::chrono::duration<double>(seconds);
}

std::optional<std::string> redirect_target(std::string_view origin, std::string_view path,
                                           std::string_view location) {
  while (!location.empty() && (location.front() == ' ' || location.front() == '\t')) {
    location.remove_prefix(1);
  }
  while (!location.empty() && (location.back() == ' ' || location.back() == '\t')) {
    location.remove_suffix(1);
  }
  if (const auto hash = location.find('#'); hash != std::string_view::npos) {
    location = location.substr(0, hash);
  }
  if (location.empty()) return std::nullopt;
  // A scheme: letters, digits, +, -, . before the first ':' that comes before any / ? (RFC 3986
  // §3.1).
  const auto colon = location.find(':');
  const auto delimiter = location.find_first_of("/?");
  if (colon != std::string_view::npos && colon > 0 &&
      (delimiter == std::string_view::npos || colon < delimiter)) {
    const std::string_view scheme = location.substr(0, colon);
    const bool scheme_chars = std::all_of(scheme.begin(), scheme.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.';
    });
    if (scheme_chars) {
      std::string lower(scheme);
      std::transform(lower.begin(), lower.end(), lower.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      // Another scheme, or http(s) without an authority ("http:x", which Go's client refuses:
      // no host): nothing /probe can follow.
      if ((lower != "http" && lower != "https") || location.substr(colon, 3) != "://") {
        return std::nullopt;
      }
      return lower + std::string(location.substr(colon));
    }
  }
  const auto scheme_end = origin.find("://");
  if (location.substr(0, 2) == "//") {
    if (scheme_end == std::string_view::npos) return std::nullopt;
    return std::string(origin.substr(0, scheme_end + 1)) + std::string(location);
  }
  if (location.front() == '/') return std::string(origin) + std::string(location);
  std::string_view base = path.substr(0, path.find('?'));
  if (base.empty()) base = "/";
  if (location.front() == '?')
    return std::string(origin) + std::string(base) + std::string(location);
  return std::string(origin) + std::string(base.substr(0, base.rfind('/') + 1)) +
         std::string(location);
}

}  // namespace connwatch::exporters
