// The web configuration in force, re-read when its files change (SPEC §2: a rotated certificate or
// a new user applies without a restart; a bad file keeps the last good one and says why).
//
// The server asks current() for every new connection and every request. It stats the YAML file
// and the certificate, key and client CA files it names (inode, size, mtime, ctime: a few
// microseconds); when any of them changed since the last look it parses the file and builds the
// TLS context again. Success replaces the configuration for connections and requests from then
// on (open TLS connections keep the context they were accepted with); failure logs the error once
// per change of the files and keeps serving with the last good configuration.
#pragma once

#include <sys/types.h>

#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "config/config.h"
#include "exporters/basic_auth.h"
#include "exporters/web_config.h"

namespace connwatch::exporters {

// exporter-toolkit's rate_limit: a token bucket of `burst` tokens, one more every `interval`.
class RequestRateLimit {
 public:
  explicit RequestRateLimit(RateLimit limit) : limit_(limit), tokens_(limit.burst) {}
  bool enabled() const { return limit_.interval.count() > 0; }
  // Takes a token; false when none is left (the request gets 429).
  bool allow(std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now());

 private:
  RateLimit limit_;
  std::mutex mutex_;
  double tokens_;
  std::chrono::steady_clock::time_point last_{};
};

// One loaded configuration: what a connection and its requests are served with.
struct ActiveWebConfig {
  explicit ActiveWebConfig(WebConfig c);

  WebConfig config;
  std::shared_ptr<boost::asio::ssl::context> tls;  // null: plain HTTP
  std::unique_ptr<BasicAuth> auth;
  std::unique_ptr<RequestRateLimit> rate_limit;
};

class WebConfigWatcher {
 public:
  // Loads the configuration [web] names. Throws WebConfigError when it cannot: at startup a bad
  // file is an error, not something to run without.
  explicit WebConfigWatcher(config::WebSettings settings);

  // The configuration to use now, re-read first if any of its files changed.
  std::shared_ptr<const ActiveWebConfig> current();

  // Why the last re-read failed; empty after a success.
  const std::string& last_error() const { return last_error_; }
  std::uint64_t reloads() const { return reloads_; }
  std::uint64_t failed_reloads() const { return failed_reloads_; }

 private:
  struct FileStamp {
    std::string path;
    int error = 0;  // errno of stat, 0 when it exists
    dev_t device = 0;
    ino_t inode = 0;
    off_t size = 0;
    std::int64_t mtime_ns = 0;
    std::int64_t ctime_ns = 0;
    bool operator==(const FileStamp&) const = default;
  };
  std::vector<FileStamp> stamp(const WebConfig& config) const;
  void reload();

  config::WebSettings settings_;
  std::shared_ptr<const ActiveWebConfig> active_;
  std::vector<FileStamp> seen_;  // the files as they were at the last load attempt
  std::string last_error_;
  std::uint64_t reloads_ = 0;
  std::uint64_t failed_reloads_ = 0;
};

}  // namespace connwatch::exporters
