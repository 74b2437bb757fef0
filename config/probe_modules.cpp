#include "config/probe_modules.h"

#include <fmt/format.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <functional>
#include <sstream>
#include <system_error>

#include "config/loader.h"
#include "config/regex.h"

namespace connwatch::config {
namespace {

class Reader {
 public:
  explicit Reader(std::string file) : file_(std::move(file)) {}

  void error(const YAML::Node& node, std::string_view key, std::string_view what) {
    const YAML::Mark mark = node.Mark();
    errors_.push_back(
        fmt::format("{}:{}:{}: {}: {}", file_, mark.line + 1, mark.column + 1, key, what));
  }
  const std::vector<std::string>& errors() const { return errors_; }

  // Calls `read(key, value)` for each entry of the mapping at `path`; a key not in `known` is an
  // error naming it.
  void each(const YAML::Node& map, const std::string& path,
            std::initializer_list<std::string_view> known,
            const std::function<void(const std::string&, const YAML::Node&)>& read) {
    if (!map.IsMap()) {
      if (!map.IsNull()) error(map, path, "want a mapping");
      return;
    }
    for (const auto& entry : map) {
      const std::string key = entry.first.as<std::string>();
      const std::string dotted = path.empty() ? key : path + "." + key;
      if (std::find(known.begin(), known.end(), key) == known.end()) {
        error(entry.first, dotted, "unknown or unsupported key");
        continue;
      }
      read(key, entry.second);
    }
  }

  bool scalar(const YAML::Node& node, const std::string& key, std::string& out) {
    if (!node.IsScalar()) {
      error(node, key, "want a string");
      return false;
    }
    out = node.Scalar();
    return true;
  }

  void boolean(const YAML::Node& node, const std::string& key, bool& out) {
    try {
      out = node.as<bool>();
    } catch (const YAML::Exception&) {
      error(node, key, "want true or false");
    }
  }

  void file(const YAML::Node& node, const std::string& key, std::string& out) {
    if (!scalar(node, key, out) || out.empty()) return;
    if (::access(out.c_str(), R_OK) != 0) {
      error(node, key,
            fmt::format("cannot read \"{}\": {}", out,
                        std::error_code(errno, std::generic_category()).message()));
    }
  }

  void ip_protocol(const YAML::Node& node, const std::string& key, IpProtocol& out) {
    std::string text;
    if (!scalar(node, key, text)) return;
    if (text == "ip4") {
      out = IpProtocol::kIp4;
    } else if (text == "ip6") {
      out = IpProtocol::kIp6;
    } else {
      error(node, key, fmt::format("\"{}\" is not one of ip4, ip6", text));
    }
  }

  void tls(const YAML::Node& node, const std::string& path, TlsSettings& tls) {
    each(node, path, {"ca_file", "cert_file", "key_file", "server_name", "insecure_skip_verify"},
         [&](const std::string& key, const YAML::Node& value) {
           const std::string dotted = path + "." + key;
           if (key == "ca_file") file(value, dotted, tls.ca_file);
           if (key == "cert_file") file(value, dotted, tls.cert_file);
           if (key == "key_file") file(value, dotted, tls.key_file);
           if (key == "server_name") scalar(value, dotted, tls.server_name);
           if (key == "insecure_skip_verify") boolean(value, dotted, tls.insecure_skip_verify);
         });
    if (tls.cert_file.empty() != tls.key_file.empty()) {
      error(node, path, "cert_file and key_file go together");
    }
  }

  void http(const YAML::Node& node, const std::string& path, ProbeModule& m) {
    each(node, path,
         {"valid_status_codes", "method", "headers", "body", "fail_if_body_not_matches_regexp",
          "preferred_ip_protocol", "ip_protocol_fallback", "tls_config", "follow_redirects",
          "no_follow_redirects"},
         [&](const std::string& key, const YAML::Node& value) {
           const std::string dotted = path + "." + key;
           if (key == "valid_status_codes") status_codes(value, dotted, m.valid_status_codes);
           if (key == "method") scalar(value, dotted, m.method);
           if (key == "body") scalar(value, dotted, m.body);
           if (key == "headers") {
             each_free(value, dotted, [&](const std::string& name, const YAML::Node& v) {
               std::string text;
               if (scalar(v, dotted + "." + name, text)) m.headers[name] = text;
             });
           }
           if (key == "fail_if_body_not_matches_regexp") regexes(value, dotted, m);
           if (key == "preferred_ip_protocol") ip_protocol(value, dotted, m.preferred_ip_protocol);
           if (key == "ip_protocol_fallback") boolean(value, dotted, m.ip_protocol_fallback);
           if (key == "tls_config") tls(value, dotted, m.tls);
           if (key == "follow_redirects") boolean(value, dotted, m.follow_redirects);
           if (key == "no_follow_redirects") {  // blackbox's older spelling, inverted
             bool no_follow = !m.follow_redirects;
             boolean(value, dotted, no_follow);
             m.follow_redirects = !no_follow;
           }
         });
  }

  void tcp(const YAML::Node& node, const std::string& path, ProbeModule& m) {
    each(node, path, {"preferred_ip_protocol", "ip_protocol_fallback", "tls_config"},
         [&](const std::string& key, const YAML::Node& value) {
           const std::string dotted = path + "." + key;
           if (key == "preferred_ip_protocol") ip_protocol(value, dotted, m.preferred_ip_protocol);
           if (key == "ip_protocol_fallback") boolean(value, dotted, m.ip_protocol_fallback);
           if (key == "tls_config") {
             // Named rather than ignored: a module meant to check a certificate would pass
             // without any handshake.
             error(value, dotted,
                   "not supported: connwatch's tcp prober does not speak TLS; probe TLS with an "
                   "http module and an https:// target");
           }
         });
  }

 private:
  void each_free(const YAML::Node& map, const std::string& path,
                 const std::function<void(const std::string&, const YAML::Node&)>& read) {
    if (!map.IsMap()) {
      if (!map.IsNull()) error(map, path, "want a mapping");
      return;
    }
    for (const auto& entry : map) read(entry.first.as<std::string>(), entry.second);
  }

  void status_codes(const YAML::Node& node, const std::string& key, std::vector<int>& out) {
    if (!node.IsSequence()) {
      error(node, key, "want a list of status codes");
      return;
    }
    for (std::size_t i = 0; i < node.size(); ++i) {
      int code = 0;
      try {
        code = node[i].as<int>();
      } catch (const YAML::Exception&) {
      }
      if (code < 100 || code > 599) {
        error(node[i], fmt::format("{}[{}]", key, i), "want a status code between 100 and 599");
        continue;
      }
      out.push_back(code);
    }
  }

  void regexes(const YAML::Node& node, const std::string& key, ProbeModule& m) {
    if (!node.IsSequence()) {
      error(node, key, "want a list of regular expressions");
      return;
    }
    for (std::size_t i = 0; i < node.size(); ++i) {
      const std::string element = fmt::format("{}[{}]", key, i);
      std::string text;
      if (!scalar(node[i], element, text)) continue;
      Regex::CompileError e;
      if (Regex::compile(text, e)) {
        m.fail_if_body_not_matches.push_back(text);
      } else {
        error(node[i], element,
              fmt::format("\"{}\" is not a valid regular expression: {} (at offset {})", text,
                          e.message, e.offset));
      }
    }
  }

  std::string file_;
  std::vector<std::string> errors_;
};

}  // namespace

std::string_view to_string(ProberKind kind) {
  switch (kind) {
    case ProberKind::kHttp:
      return "http";
    case ProberKind::kTcp:
      return "tcp";
  }
  return "http";
}

ProbeModules parse_probe_modules(std::string_view text, const std::string& source_name) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::ParserException& e) {
    throw ConfigError({fmt::format("{}:{}:{}: syntax error: {}", source_name, e.mark.line + 1,
                                   e.mark.column + 1, e.msg)});
  }
  Reader r(source_name);
  ProbeModules modules;
  r.each(root, "", {"modules"}, [&](const std::string&, const YAML::Node& all) {
    if (!all.IsMap()) {
      r.error(all, "modules", "want a mapping of module names to modules");
      return;
    }
    for (const auto& entry : all) {
      ProbeModule m;
      m.name = entry.first.as<std::string>();
      const std::string path = "modules." + m.name;
      r.each(entry.second, path, {"prober", "timeout", "http", "tcp"},
             [&](const std::string& key, const YAML::Node& value) {
               const std::string dotted = path + "." + key;
               std::string scalar;
               if (key == "prober" && r.scalar(value, dotted, scalar)) {
                 if (scalar == "http") {
                   m.prober = ProberKind::kHttp;
                 } else if (scalar == "tcp") {
                   m.prober = ProberKind::kTcp;
                 } else {
                   r.error(value, dotted,
                           fmt::format("\"{}\" is not supported (http, tcp)", scalar));
                 }
               }
               if (key == "timeout" && r.scalar(value, dotted, scalar)) {
                 if (const auto d = parse_duration(scalar); d && d->count() > 0) {
                   m.timeout = *d;
                 } else {
                   r.error(value, dotted, fmt::format("\"{}\" is not a duration", scalar));
                 }
               }
               if (key == "http") r.http(value, dotted, m);
               if (key == "tcp") r.tcp(value, dotted, m);
             });
      modules.emplace(m.name, std::move(m));
    }
  });
  if (!r.errors().empty()) throw ConfigError(r.errors());
  return modules;
}

ProbeModules load_probe_modules_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw ConfigError({fmt::format("{}: cannot read probe config file: {}", path.string(),
                                   std::error_code(errno, std::generic_category()).message())});
  }
  std::stringstream text;
  text << in.rdbuf();
  return parse_probe_modules(text.str(), path.string());
}

}  // namespace connwatch::config
