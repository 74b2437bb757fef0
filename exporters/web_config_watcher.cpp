#include "exporters/web_config_watcher.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "exporters/tls_context.h"

namespace connwatch::exporters {

bool RequestRateLimit::allow(std::chrono::steady_clock::time_point now) {
  if (!enabled()) return true;
  const std::lock_guard lock(mutex_);
  if (last_ != std::chrono::steady_clock::time_point{}) {
    const std::chrono::duration<double> elapsed = now - last_;
    const std::chrono::duration<double> interval = limit_.interval;
    tokens_ = std::min<double>(limit_.burst, tokens_ + elapsed / interval);
  }
  last_ = now;
  if (tokens_ < 1.0) return false;
  tokens_ -= 1.0;
  return true;
}

ActiveWebConfig::ActiveWebConfig(WebConfig c)
    : config(std::move(c)),
      tls(make_tls_context(config)),
      auth(std::make_unique<BasicAuth>(config.basic_auth_users)),
      rate_limit(std::make_unique<RequestRateLimit>(config.rate_limit)) {}

WebConfigWatcher::WebConfigWatcher(config::WebSettings settings) : settings_(std::move(settings)) {
  WebConfig config = web_config_from_settings(settings_);
  seen_ = stamp(config);
  active_ = std::make_shared<const ActiveWebConfig>(std::move(config));
}

std::vector<WebConfigWatcher::FileStamp> WebConfigWatcher::stamp(const WebConfig& config) const {
  std::vector<std::string> paths;
  if (!settings_.config_file.empty()) paths.push_back(settings_.config_file);
  for (const auto& file : config.tls.files()) paths.push_back(file.string());
  std::vector<FileStamp> out;
  for (auto& path : paths) {
    FileStamp s;
    s.path = std::move(path);
    struct stat st {};
    if (::stat(s.path.c_str(), &st) != 0) {
      s.error = errno;
    } else {
      s.device = st.st_dev;
      s.inode = st.st_ino;
      s.size = st.st_size;
      s.mtime_ns = std::int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec;
      s.ctime_ns = std::int64_t{st.st_ctim.tv_sec} * 1'000'000'000 + st.st_ctim.tv_nsec;
    }
    out.push_back(std::move(s));
  }
  return out;
}

std::shared_ptr<const ActiveWebConfig> WebConfigWatcher::current() {
  // The files named by the configuration last tried: a failed edit that names other certificate
  // files is retried when either the YAML or the files it named before change.
  if (!seen_.empty() && stamp(active_->config) != seen_) reload();
  return active_;
}

void WebConfigWatcher::reload() {
  std::vector<FileStamp> before = stamp(active_->config);
  try {
    WebConfig config = web_config_from_settings(settings_);
    // Stamped before building: a file replaced while it is read is seen again next time.
    std::vector<FileStamp> after = stamp(config);
    auto next = std::make_shared<const ActiveWebConfig>(std::move(config));
    active_ = std::move(next);
    seen_ = std::move(after);
    last_error_.clear();
    ++reloads_;
    spdlog::info("web config reloaded{}{}: TLS {}, {} basic auth users",
                 settings_.config_file.empty() ? "" : " from ", settings_.config_file,
                 active_->tls ? "on" : "off", active_->config.basic_auth_users.size());
  } catch (const std::exception& e) {
    seen_ = std::move(before);
    last_error_ = e.what();
    ++failed_reloads_;
    spdlog::error("web config reload failed, keeping the last good one: {}", last_error_);
  }
}

}  // namespace connwatch::exporters
