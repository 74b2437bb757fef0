#include "probes/active/module_target.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace connwatch::active {

namespace {

bool starts_with_nocase(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() &&
         std::equal(prefix.begin(), prefix.end(), text.begin(), [](char p, char t) {
           return std::tolower(static_cast<unsigned char>(t)) == p;
         });
}

}  // namespace

std::optional<config::Target> make_module_target(const config::ProbeModule& module,
                                                 std::string_view target,
                                                 const config::PoolSettings& pool,
                                                 std::string& error) {
  std::string url_text;
  switch (module.prober) {
    case config::ProberKind::kHttp:
      if (starts_with_nocase(target, "http://") || starts_with_nocase(target, "https://")) {
        // The scheme in lower case, as Go's url.Parse (blackbox) reads it.
        url_text = std::string(target);
        const auto end = url_text.find(':');
        for (std::size_t i = 0; i < end; ++i) {
          url_text[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(url_text[i])));
        }
      } else {
        url_text = "http://" + std::string(target);
      }
      break;
    case config::ProberKind::kTcp:
      if (target.find("://") != std::string_view::npos ||
          target.find('/') != std::string_view::npos) {
        error = fmt::format("module {} is a tcp module: the target is host:port, not \"{}\"",
                            module.name, target);
        return std::nullopt;
      }
      url_text = "tcp://" + std::string(target);
      break;
  }
  std::string why;
  const auto url = config::parse_target_url(url_text, why);
  if (!url) {
    error = fmt::format("target \"{}\": {}", target, why);
    return std::nullopt;
  }
  config::Target t;
  t.name = fmt::format("{}:{}", module.name, target);
  t.url = *url;
  t.url_text = std::string(target);
  // Without a module timeout the scrape's deadline alone bounds the probe (ProbeHarness::run's
  // budget); blackbox's ceiling, 120 s without the header minus its 0.5 s offset, stands in here.
  const config::Duration timeout =
      module.timeout.count() > 0 ? module.timeout : config::Duration(119500);
  t.interval = timeout;
  t.method = module.method.empty() ? "GET" : module.method;
  t.headers = module.headers;
  t.body = module.body;
  if (module.valid_status_codes.empty()) {
    t.expect_status.clear();
    for (int code = 200; code < 300; ++code) t.expect_status.push_back(code);  // blackbox: 2xx
  } else {
    t.expect_status = module.valid_status_codes;
  }
  t.fail_if_body_not_matches_more = module.fail_if_body_not_matches;
  t.ip_protocol = module.ip_protocol();
  t.tls = module.tls;
  t.pool = pool;
  t.pool.connect_timeout = timeout;
  t.pool.request_timeout = timeout;
  t.retry.max_attempts = 1;
  return t;
}

}  // namespace connwatch::active
