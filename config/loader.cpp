#include "config/loader.h"

#include <fmt/format.h>
#include <grp.h>
#include <pwd.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <system_error>
#include <utility>

#include "config/regex.h"

namespace connwatch::config {
namespace {

std::string join(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& line : lines) {
    if (!out.empty()) out += '\n';
    out += line;
  }
  return out;
}

// Levenshtein distance, to suggest the key a typo meant.
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string_view type_name(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::none:
      return "nothing";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
  }
  return "something else";
}

class Diagnostics {
 public:
  explicit Diagnostics(std::string file) : file_(std::move(file)) {}

  void error(const toml::source_region& where, std::string_view key, std::string_view what) {
    errors_.push_back(
        fmt::format("{}:{}:{}: {}: {}", file_, where.begin.line, where.begin.column, key, what));
  }
  const std::vector<std::string>& errors() const { return errors_; }

 private:
  std::string file_;
  std::vector<std::string> errors_;
};

// Reads the keys of one TOML table into typed fields. Every key read is remembered, so finish()
// can report the ones nobody asked for. A missing key leaves the field at its default.
class TableReader {
 public:
  TableReader(const toml::table& table, std::string path, Diagnostics& diag)
      : table_(table), path_(std::move(path)), diag_(diag) {}

  std::string dotted(std::string_view key) const {
    return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  }
  const toml::table& table() const { return table_; }
  const std::string& path() const { return path_; }
  Diagnostics& diagnostics() { return diag_; }

  // The node under `key`, marked as known; nullptr when absent.
  const toml::node* find(std::string_view key) {
    known_.insert(std::string(key));
    return table_.get(key);
  }

  void error(const toml::node& node, std::string_view key, std::string_view what) {
    diag_.error(node.source(), dotted(key), what);
  }
  void wrong_type(const toml::node& node, std::string_view key, std::string_view want) {
    error(node, key, fmt::format("want {}, got {}", want, type_name(node)));
  }

  void read(std::string_view key, std::string& out) {
    const toml::node* node = find(key);
    if (node == nullptr) return;
    if (const auto* value = node->as_string()) {
      out = value->get();
    } else {
      wrong_type(*node, key, "a string");
    }
  }

  void read(std::string_view key, bool& out) {
    const toml::node* node = find(key);
    if (node == nullptr) return;
    if (const auto* value = node->as_boolean()) {
      out = value->get();
    } else {
      wrong_type(*node, key, "a boolean (true or false)");
    }
  }

  template <typename Int>
  void read(std::string_view key, Int& out, std::int64_t min, std::int64_t max) {
    const toml::node* node = find(key);
    if (node == nullptr) return;
    if (const auto value = integer_in(*node, key, min, max)) out = static_cast<Int>(*value);
  }

  void read(std::string_view key, double& out, double min, double max) {
    const toml::node* node = find(key);
    if (node == nullptr) return;
    double value = 0;
    if (const auto* f = node->as_floating_point()) {
      value = f->get();
    } else if (const auto* i = node->as_integer()) {
      value = static_cast<double>(i->get());
    } else {
      wrong_type(*node, key, "a number");
      return;
    }
    if (!(value >= min && value <= max)) {
      error(*node, key, fmt::format("must be between {} and {}, got {}", min, max, value));
      return;
    }
    out = value;
  }

  void read_duration(std::string_view key, Duration& out, Duration min) {
    const toml::node* node = find(key);
    if (node == nullptr) return;
    const auto* text = node->as_string();
    if (text == nullptr) {
      wrong_type(*node, key, "a duration string such as \"5s\"");
      return;
    }
    const auto value = parse_duration(text->get());
    if (!value) {
      error(*node, key,
            fmt::format("\"{}\" is not a duration (use e.g. 250ms, 5s, 2m, 1h30m)", text->get()));
      return;
    }
    if (*value < min) {
      error(*node, key,
            fmt::format("must be at least {}, got {}", format_duration(min), text->get()));
      return;
    }
    out = *value;
  }

  void read_size(std::string_view key, std::uint64_t& out, std::uint64_t min, std::uint64_t max) {
    const toml::node* node = find(key);
    if (node == nullptr) return;
    std::optional<std::uint64_t> value;
    std::string shown;
    if (const auto* text = node->as_string()) {
      value = parse_size(text->get());
      shown = text->get();
      if (!value) {
        error(*node, key,
              fmt::format("\"{}\" is not a size (use e.g. 512KiB, 32MiB, 1GiB)", text->get()));
        return;
      }
    } else if (const auto* i = node->as_integer(); i != nullptr && i->get() >= 0) {
      value = static_cast<std::uint64_t>(i->get());
      shown = std::to_string(i->get());
    } else {
      wrong_type(*node, key, "a size such as \"32MiB\"");
      return;
    }
    if (*value < min || *value > max) {
      error(*node, key, fmt::format("must be between {} and {} bytes, got {}", min, max, shown));
      return;
    }
    out = *value;
  }

  template <typename Enum>
  void read_choice(std::string_view key, Enum& out,
                   std::initializer_list<std::pair<std::string_view, Enum>> choices) {
    const toml::node* node = find(key);
    if (node == nullptr) return;
    const auto* text = node->as_string();
    std::string names;
    for (const auto& [name, value] : choices) {
      if (text != nullptr && text->get() == name) {
        out = value;
        return;
      }
      names += names.empty() ? "" : ", ";
      names += name;
    }
    if (text == nullptr) {
      wrong_type(*node, key, "one of " + names);
    } else {
      error(*node, key, fmt::format("\"{}\" is not one of {}", text->get(), names));
    }
  }

  // An array of integers in [min, max]; reports the first element out of range or of wrong type.
  template <typename Int>
  void read_int_array(std::string_view key, std::vector<Int>& out, std::int64_t min,
                      std::int64_t max, bool allow_empty) {
    const toml::node* node = find(key);
    if (node == nullptr) return;
    const auto* array = node->as_array();
    if (array == nullptr) {
      wrong_type(*node, key, "an array of integers");
      return;
    }
    if (array->empty() && !allow_empty) {
      error(*node, key, "must not be empty");
      return;
    }
    std::vector<Int> values;
    for (std::size_t i = 0; i < array->size(); ++i) {
      const std::string element = fmt::format("{}[{}]", key, i);
      const auto value = integer_in(*array->get(i), element, min, max);
      if (!value) return;
      values.push_back(static_cast<Int>(*value));
    }
    out = std::move(values);
  }

  const toml::table* subtable(std::string_view key) {
    const toml::node* node = find(key);
    if (node == nullptr) return nullptr;
    if (const auto* t = node->as_table()) return t;
    wrong_type(*node, key, "a table");
    return nullptr;
  }

  void require(std::string_view key) {
    known_.insert(std::string(key));
    if (!table_.contains(key)) diag_.error(table_.source(), dotted(key), "missing required key");
  }

  // Reports every key of the table that no read asked for, with the closest known key.
  void finish() {
    for (const auto& [key, node] : table_) {
      if (known_.contains(std::string(key.str()))) continue;
      std::string what = "unknown key";
      std::string_view best;
      std::size_t best_distance = 3;
      for (const auto& candidate : known_) {
        const std::size_t d = edit_distance(key.str(), candidate);
        if (d < best_distance) {
          best_distance = d;
          best = candidate;
        }
      }
      if (!best.empty()) what += fmt::format(" (did you mean \"{}\"?)", best);
      diag_.error(key.source(), dotted(key.str()), what);
    }
  }

 private:
  std::optional<std::int64_t> integer_in(const toml::node& node, std::string_view key,
                                         std::int64_t min, std::int64_t max) {
    const auto* value = node.as_integer();
    if (value == nullptr) {
      wrong_type(node, key, "an integer");
      return std::nullopt;
    }
    if (value->get() < min || value->get() > max) {
      error(node, key, fmt::format("must be between {} and {}, got {}", min, max, value->get()));
      return std::nullopt;
    }
    return value->get();
  }

  const toml::table& table_;
  std::string path_;
  Diagnostics& diag_;
  std::set<std::string> known_;
};

void read_agent(TableReader& r, AgentSettings& agent) {
  if (const toml::node* node = r.find("listen")) {
    if (const auto* text = node->as_string()) {
      std::string why;
      if (auto address = parse_listen_address(text->get(), why)) {
        agent.listen = *address;
      } else {
        r.error(*node, "listen", "bad listen address: " + why);
      }
    } else {
      r.wrong_type(*node, "listen", "a string such as \":9873\"");
    }
  }
  r.read_choice("log_level", agent.log_level,
                {{"debug", LogLevel::kDebug},
                 {"info", LogLevel::kInfo},
                 {"warn", LogLevel::kWarn},
                 {"error", LogLevel::kError}});
  r.read_choice("log_format", agent.log_format,
                {{"logfmt", LogFormat::kLogfmt}, {"json", LogFormat::kJson}});
  // Unknown names are config errors, found before anything starts rather than after the drop.
  if (const toml::node* node = r.find("user")) {
    r.read("user", agent.user);
    if (!agent.user.empty() && ::getpwnam(agent.user.c_str()) == nullptr) {
      r.error(*node, "user", "no such user \"" + agent.user + "\"");
    }
  }
  if (const toml::node* node = r.find("group")) {
    r.read("group", agent.group);
    if (!agent.group.empty() && ::getgrnam(agent.group.c_str()) == nullptr) {
      r.error(*node, "group", "no such group \"" + agent.group + "\"");
    }
    if (!agent.group.empty() && agent.user.empty()) {
      r.error(*node, "group", "group needs user: the agent changes both or neither");
    }
  }
}

void read_web(TableReader& r, WebSettings& web) {
  if (const toml::node* node = r.find("config_file")) {
    r.read("config_file", web.config_file);
    const auto& source = node->source().path;
    if (!web.config_file.empty() && source &&
        std::filesystem::path(web.config_file).is_relative()) {
      web.config_file = (std::filesystem::path(*source).parent_path() / web.config_file).string();
    }
  }
  r.read("tls_cert", web.tls_cert);
  r.read("tls_key", web.tls_key);
  if (web.tls_cert.empty() != web.tls_key.empty()) {
    const std::string_view missing = web.tls_cert.empty() ? "tls_cert" : "tls_key";
    r.diagnostics().error(r.table().source(), r.dotted(missing),
                          "tls_cert and tls_key must be set together");
  }
  if (const toml::table* users = r.subtable("basic_auth_users")) {
    for (const auto& [user, hash] : *users) {
      const std::string key = "basic_auth_users." + std::string(user.str());
      if (const auto* text = hash.as_string(); text != nullptr && !text->get().empty()) {
        web.basic_auth_users[std::string(user.str())] = text->get();
      } else {
        r.error(hash, key, "want a password hash string");
      }
    }
  }
  if (!web.config_file.empty() &&
      (!web.tls_cert.empty() || !web.tls_key.empty() || !web.basic_auth_users.empty())) {
    r.diagnostics().error(r.table().source(), r.dotted("config_file"),
                          "config_file and tls_cert/tls_key/basic_auth_users exclude each other: "
                          "put TLS and users in the web config file");
  }
}

void read_probe(TableReader& r, ProbeSettings& probe) {
  if (const toml::node* node = r.find("config_file")) {
    r.read("config_file", probe.config_file);
    const auto& source = node->source().path;
    if (!probe.config_file.empty() && source &&
        std::filesystem::path(probe.config_file).is_relative()) {
      probe.config_file =
          (std::filesystem::path(*source).parent_path() / probe.config_file).string();
    }
  }
  r.read("max_pools", probe.max_pools, 1, 1000000);
  // At most 200 of the web server's 256 connections: /metrics keeps at least 56.
  r.read("max_concurrent", probe.max_concurrent, 1, 200);
  r.read_duration("idle_timeout", probe.idle_timeout, 1ms);
}

// An established flow kept for less time than an opening one would be forgotten while quiet,
// which is what established_timeout exists to prevent (SPEC §3).
void check_capture(TableReader& r, const CaptureSettings& capture) {
  if (capture.established_timeout >= capture.flow_idle_timeout) return;
  const bool set_here = r.table().contains("established_timeout");
  const std::string_view key = set_here ? "established_timeout" : "flow_idle_timeout";
  const std::string what = fmt::format(
      "established_timeout ({}) must not be below flow_idle_timeout ({})",
      format_duration(capture.established_timeout), format_duration(capture.flow_idle_timeout));
  if (const toml::node* node = r.table().get(key)) {
    r.error(*node, key, what);
  } else {
    r.diagnostics().error(r.table().source(), r.dotted(key), what);
  }
}

// Several capture threads share the packets by a hash of each packet's own 4-tuple
// (PACKET_FANOUT). On "any" a forwarded or NATed connection is captured once per interface, under
// tuples that hash to different threads, and the tracker's NAT de-duplication (one thread's
// DuplicateFilter) would miss the pair: each such connection counted twice. NFLOG is a netlink
// socket, not a packet socket: no fanout.
void check_capture_threads(TableReader& r, const CaptureSettings& capture) {
  if (capture.threads <= 1) return;
  std::string why;
  if (capture.interface == "any") {
    why = fmt::format(
        "threads = {} needs a named interface, not \"any\": on \"any\" the two captures of a "
        "forwarded or NATed connection go to different threads and it would be counted twice",
        capture.threads);
  } else if (capture.interface.starts_with("nflog")) {
    why = fmt::format(
        "threads = {} needs a packet interface: \"{}\" is NFLOG, which cannot share its "
        "packets between threads (PACKET_FANOUT)",
        capture.threads, capture.interface);
  } else {
    return;
  }
  if (const toml::node* node = r.table().get("threads")) {
    r.error(*node, "threads", why);
  } else {
    r.diagnostics().error(r.table().source(), r.dotted("threads"), why);
  }
}

void read_capture(TableReader& r, CaptureSettings& capture) {
  r.read("enabled", capture.enabled);
  r.read("interface", capture.interface);
  // 64 bytes still covers SLL2 + IPv4 + the TCP flags; 65535 is a full packet.
  r.read("snaplen", capture.snaplen, 64, 65535);
  r.read_size("buffer_size", capture.buffer_size, 1ULL << 20, 1ULL << 30);
  r.read("max_flows", capture.max_flows, 1, 1 << 24);
  r.read_duration("flow_idle_timeout", capture.flow_idle_timeout, 1s);
  r.read_duration("established_timeout", capture.established_timeout, 1s);
  check_capture(r, capture);
  r.read_int_array("ports", capture.ports, 1, 65535, true);
  r.read("max_peers", capture.max_peers, 0, 10000);
  r.read("threads", capture.threads, 1, 64);
  check_capture_threads(r, capture);
}

void read_sockets(TableReader& r, SocketsSettings& sockets) {
  r.read("enabled", sockets.enabled);
  r.read_duration("interval", sockets.interval, 100ms);
  r.read("max_destinations", sockets.max_destinations, 0, 10000);
  r.read_choice("namespaces", sockets.namespaces,
                {{"all", SocketNamespaces::kAll}, {"self", SocketNamespaces::kSelf}});
  r.read("max_namespaces", sockets.max_namespaces, 0, 10000);
}

void read_pool(TableReader& r, PoolSettings& pool) {
  r.read("max_connections", pool.max_connections, 1, 1024);
  r.read_duration("idle_timeout", pool.idle_timeout, 1ms);
  r.read_duration("max_lifetime", pool.max_lifetime, 0ms);
  r.read_duration("connect_timeout", pool.connect_timeout, 1ms);
  r.read_duration("request_timeout", pool.request_timeout, 1ms);
}

void read_retry(TableReader& r, RetrySettings& retry) {
  r.read("max_attempts", retry.max_attempts, 1, 10);
  r.read_duration("base_delay", retry.base_delay, 1ms);
  r.read_duration("max_delay", retry.max_delay, 1ms);
  r.read_choice("jitter", retry.jitter,
                {{"none", Jitter::kNone},
                 {"full", Jitter::kFull},
                 {"equal", Jitter::kEqual},
                 {"decorrelated", Jitter::kDecorrelated}});
  r.read("budget_ratio", retry.budget_ratio, 0.0, 1.0);
}

// max_delay below base_delay would make every delay the cap; say so at the key that set it.
void check_retry(TableReader& r, const RetrySettings& retry) {
  if (retry.max_delay >= retry.base_delay) return;
  const toml::node* node = r.table().get("max_delay");
  if (node == nullptr) node = r.table().get("base_delay");
  const std::string_view key = r.table().contains("max_delay") ? "max_delay" : "base_delay";
  const std::string what =
      fmt::format("max_delay ({}) must not be below base_delay ({})",
                  format_duration(retry.max_delay), format_duration(retry.base_delay));
  if (node != nullptr) {
    r.error(*node, key, what);
  } else {
    r.diagnostics().error(r.table().source(), r.dotted(key), what);
  }
}

constexpr std::array<std::string_view, 8> kMethods = {"GET",    "HEAD",    "POST",  "PUT",
                                                      "DELETE", "OPTIONS", "PATCH", "TRACE"};

// RFC 9110 token characters: what a header name may be made of.
bool is_header_name(std::string_view name) {
  if (name.empty()) return false;
  for (const char ch : name) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) == 0 &&
        std::string_view("!#$%&'*+-.^_`|~").find(ch) == std::string_view::npos) {
      return false;
    }
  }
  return true;
}

void read_headers(TableReader& r, std::map<std::string, std::string>& headers) {
  const toml::table* table = r.subtable("headers");
  if (table == nullptr) return;
  for (const auto& [name, value] : *table) {
    const std::string key = "headers." + std::string(name.str());
    const auto* text = value.as_string();
    if (text == nullptr) {
      r.wrong_type(value, key, "a string");
    } else if (!is_header_name(name.str())) {
      r.diagnostics().error(name.source(), r.dotted(key),
                            "not a valid HTTP header name (RFC 9110 token characters only)");
    } else if (text->get().find_first_of("\r\n") != std::string::npos) {
      r.error(value, key, "a header value must not contain CR or LF");
    } else {
      headers[std::string(name.str())] = text->get();
    }
  }
}

// A TLS file must exist and be readable now: a typo is a config error, not a tls_error later.
void read_tls_file(TableReader& r, std::string_view key, std::string& out) {
  const toml::node* node = r.find(key);
  if (node == nullptr) return;
  r.read(key, out);
  if (!out.empty() && ::access(out.c_str(), R_OK) != 0) {
    r.error(*node, key,
            fmt::format("cannot read \"{}\": {}", out,
                        std::error_code(errno, std::generic_category()).message()));
  }
}

void read_target_tls(TableReader& r, TlsSettings& tls) {
  read_tls_file(r, "tls_ca_file", tls.ca_file);
  read_tls_file(r, "tls_cert_file", tls.cert_file);
  read_tls_file(r, "tls_key_file", tls.key_file);
  r.read("tls_server_name", tls.server_name);
  r.read("tls_insecure_skip_verify", tls.insecure_skip_verify);
  if (tls.cert_file.empty() != tls.key_file.empty()) {
    const std::string_view set = tls.cert_file.empty() ? "tls_key_file" : "tls_cert_file";
    const std::string_view missing = tls.cert_file.empty() ? "tls_cert_file" : "tls_key_file";
    if (const toml::node* node = r.table().get(set)) {
      r.error(*node, set,
              fmt::format("needs {}: a client certificate and its key go together", missing));
    }
  }
}

void read_target(TableReader& r, Target& target) {
  r.require("name");
  r.require("url");
  r.read("name", target.name);
  if (const toml::node* node = r.find("name");
      node != nullptr && node->is_string() && target.name.empty()) {
    r.error(*node, "name", "must not be empty");
  }
  if (const toml::node* node = r.find("url")) {
    if (const auto* text = node->as_string()) {
      std::string why;
      if (auto url = parse_target_url(text->get(), why)) {
        target.url = *url;
        target.url_text = text->get();
      } else {
        r.error(*node, "url", "bad URL: " + why);
      }
    } else {
      r.wrong_type(*node, "url", "a URL string");
    }
  }
  r.read_duration("interval", target.interval, 100ms);
  if (const toml::node* node = r.find("method")) {
    r.read("method", target.method);
    if (std::find(kMethods.begin(), kMethods.end(), target.method) == kMethods.end() &&
        node->is_string()) {
      r.error(
          *node, "method",
          fmt::format("\"{}\" is not one of GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH, TRACE",
                      target.method));
    }
  }
  r.read_int_array("expect_status", target.expect_status, 100, 599, false);
  read_headers(r, target.headers);
  r.read("body", target.body);
  if (const toml::node* node = r.find("fail_if_body_not_matches")) {
    r.read("fail_if_body_not_matches", target.fail_if_body_not_matches);
    Regex::CompileError e;
    if (!Regex::compile(target.fail_if_body_not_matches, e)) {
      r.error(*node, "fail_if_body_not_matches",
              fmt::format("\"{}\" is not a valid regular expression: {} (at offset {})",
                          target.fail_if_body_not_matches, e.message, e.offset));
    }
  }
  r.read_choice(
      "ip_protocol", target.ip_protocol,
      {{"auto", IpProtocol::kAuto}, {"ip4", IpProtocol::kIp4}, {"ip6", IpProtocol::kIp6}});
  read_target_tls(r, target.tls);
  // Per-target overrides: flat keys in the target, or a [target.pool] / [target.retry] table.
  read_pool(r, target.pool);
  read_retry(r, target.retry);
  if (const toml::table* pool = r.subtable("pool")) {
    TableReader sub(*pool, r.dotted("pool"), r.diagnostics());
    read_pool(sub, target.pool);
    sub.finish();
  }
  if (const toml::table* retry = r.subtable("retry")) {
    TableReader sub(*retry, r.dotted("retry"), r.diagnostics());
    read_retry(sub, target.retry);
    check_retry(sub, target.retry);
    sub.finish();
  } else {
    check_retry(r, target.retry);
  }
}

using SectionReader = std::function<void(TableReader&, Config&)>;

Config build(const toml::table& root, const std::string& source_name) {
  Diagnostics diag(source_name);
  Config config;
  TableReader top(root, "", diag);

  // Sections in the order SPEC §3 lists them; [[target]] comes last because targets inherit
  // [pool] and [retry] wherever those appear in the file.
  const std::pair<std::string_view, SectionReader> sections[] = {
      {"agent", [](TableReader& r, Config& c) { read_agent(r, c.agent); }},
      {"web", [](TableReader& r, Config& c) { read_web(r, c.web); }},
      {"capture", [](TableReader& r, Config& c) { read_capture(r, c.capture); }},
      {"sockets", [](TableReader& r, Config& c) { read_sockets(r, c.sockets); }},
      {"pool", [](TableReader& r, Config& c) { read_pool(r, c.pool); }},
      {"retry",
       [](TableReader& r, Config& c) {
         read_retry(r, c.retry);
         check_retry(r, c.retry);
       }},
      {"probe", [](TableReader& r, Config& c) { read_probe(r, c.probe); }},
  };
  for (const auto& [name, reader] : sections) {
    if (const toml::table* table = top.subtable(name)) {
      TableReader r(*table, std::string(name), diag);
      reader(r, config);
      r.finish();
    }
  }

  if (const toml::node* node = top.find("target")) {
    const auto* array = node->as_array();
    if (array == nullptr || !array->is_array_of_tables()) {
      top.wrong_type(*node, "target", "an array of tables ([[target]])");
    } else {
      std::map<std::string, std::size_t> first_line;
      for (std::size_t i = 0; i < array->size(); ++i) {
        const toml::table& table = *array->get(i)->as_table();
        Target target;
        target.pool = config.pool;
        target.retry = config.retry;
        TableReader r(table, fmt::format("target[{}]", i), diag);
        read_target(r, target);
        r.finish();
        if (!target.name.empty()) {
          const auto [it, inserted] = first_line.emplace(target.name, table.source().begin.line);
          if (!inserted) {
            r.error(*table.get("name"), "name",
                    fmt::format("duplicate target name \"{}\" (first defined at line {})",
                                target.name, it->second));
          }
        }
        config.targets.push_back(std::move(target));
      }
    }
  }
  top.finish();

  if (!diag.errors().empty()) throw ConfigError(diag.errors());
  return config;
}

}  // namespace

ConfigError::ConfigError(std::vector<std::string> messages)
    : std::runtime_error(join(messages)), messages_(std::move(messages)) {}

std::string_view to_string(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

std::string_view to_string(LogFormat format) {
  switch (format) {
    case LogFormat::kLogfmt:
      return "logfmt";
    case LogFormat::kJson:
      return "json";
  }
  return "logfmt";
}

std::string_view to_string(SocketNamespaces namespaces) {
  switch (namespaces) {
    case SocketNamespaces::kAll:
      return "all";
    case SocketNamespaces::kSelf:
      return "self";
  }
  return "all";
}

std::string_view to_string(IpProtocol protocol) {
  switch (protocol) {
    case IpProtocol::kAuto:
      return "auto";
    case IpProtocol::kIp4:
      return "ip4";
    case IpProtocol::kIp6:
      return "ip6";
    case IpProtocol::kIp4First:
      return "ip4_first";
  }
  return "auto";
}

std::string_view to_string(Jitter jitter) {
  switch (jitter) {
    case Jitter::kNone:
      return "none";
    case Jitter::kFull:
      return "full";
    case Jitter::kEqual:
      return "equal";
    case Jitter::kDecorrelated:
      return "decorrelated";
  }
  return "full";
}

Config parse_config(std::string_view text, const std::string& source_name) {
  toml::table root;
  try {
    root = toml::parse(text, source_name);
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    throw ConfigError({fmt::format("{}:{}:{}: syntax error: {}", source_name, where.line,
                                   where.column, e.description())});
  }
  Config config = build(root, source_name);
  config.source = source_name;
  return config;
}

Config load_config_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw ConfigError({fmt::format("{}: cannot read config file: {}", path.string(),
                                   std::error_code(errno, std::generic_category()).message())});
  }
  std::stringstream text;
  text << in.rdbuf();
  return parse_config(text.str(), path.string());
}

}  // namespace connwatch::config
