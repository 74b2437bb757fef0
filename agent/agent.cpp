#include "agent/agent.h"

#include <prometheus/registry.h>
#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <csignal>
#include <filesystem>
#include <mutex>

#include "agent/logging.h"
#include "agent/self_metrics.h"
#include "config/loader.h"
#include "connwatch/version.h"
#include "exporters/http_server.h"
#include "exporters/landing_page.h"
#include "exporters/metrics_handler.h"

namespace connwatch::agent {

namespace asio = boost::asio;
namespace http = boost::beast::http;

namespace {

std::string config_path_for(const CliOptions& cli) {
  return cli.config_path.value_or(default_config_path());
}

// Command-line flags win over the file, on every load and reload.
void apply_overrides(const CliOptions& cli, config::Config& config) {
  if (cli.listen) config.agent.listen = *cli.listen;
  if (cli.log_level) config.agent.log_level = *cli.log_level;
}

}  // namespace

std::optional<config::Config> load_config_for(const CliOptions& cli, std::ostream& err) {
  const std::string path = config_path_for(cli);
  config::Config config;
  if (!cli.config_path && !std::filesystem::exists(path)) {
    spdlog::info("no config at {}, running with the built-in defaults", path);
  } else {
    try {
      config = config::load_config_file(path);
    } catch (const config::ConfigError& e) {
      for (const auto& message : e.messages()) err << message << '\n';
      return std::nullopt;
    }
  }
  apply_overrides(cli, config);
  return config;
}

struct Agent::Impl {
  Impl(CliOptions options, config::Config initial)
      : cli(std::move(options)),
        config(std::move(initial)),
        registry(std::make_shared<prometheus::Registry>()),
        self_metrics(*registry),
        signals(io, SIGINT, SIGTERM, SIGHUP) {}

  CliOptions cli;
  config::Config config;
  bool last_reload_ok = true;
  asio::io_context io{1};
  std::shared_ptr<prometheus::Registry> registry;
  SelfMetrics self_metrics;
  asio::signal_set signals;
  std::unique_ptr<exporters::HttpServer> server;

  // Loads the config file again; on failure logs every error and keeps the running config.
  bool reload(std::string& error) {
    const std::string path = config_path_for(cli);
    try {
      config::Config next = std::filesystem::exists(path) || cli.config_path
                                ? config::load_config_file(path)
                                : config::Config{};
      apply_overrides(cli, next);
      if (!(next.agent.listen.to_string() == config.agent.listen.to_string())) {
        spdlog::warn("agent.listen changed to {}; it takes effect at the next restart",
                     next.agent.listen.to_string());
        next.agent.listen = config.agent.listen;
      }
      config = std::move(next);
      set_log_level(config.agent.log_level);
      last_reload_ok = true;
      self_metrics.config_loaded(true);
      spdlog::info("config reloaded from {} ({} targets)", path, config.targets.size());
      return true;
    } catch (const config::ConfigError& e) {
      for (const auto& message : e.messages()) spdlog::error("config reload failed: {}", message);
      error = e.what();
      last_reload_ok = false;
      self_metrics.config_loaded(false);
      return false;
    }
  }

  exporters::LandingInfo landing_info() const {
    exporters::LandingInfo info;
    info.version = kVersion;
    info.revision = kRevision;
    info.config_path = config.source.string();
    info.config_reload_ok = last_reload_ok;
    info.capture_status =
        config.capture.enabled ? "enabled on " + config.capture.interface : "disabled in config";
    for (const auto& t : config.targets) {
      info.targets.push_back({t.name, t.url_text, config::format_duration(t.interval), ""});
    }
    return info;
  }

  void route() {
    server->route("/metrics", exporters::metrics_handler(registry));
    server->route("/", [this](const exporters::Request& request) {
      if (request.method() != http::verb::get && request.method() != http::verb::head) {
        return exporters::text_response(request, http::status::method_not_allowed,
                                        "only GET is allowed\n");
      }
      return exporters::text_response(request, http::status::ok,
                                      exporters::render_landing_page(landing_info()),
                                      "text/html; charset=utf-8");
    });
    server->route("/-/healthy", [](const exporters::Request& request) {
      return exporters::text_response(request, http::status::ok, "Healthy\n");
    });
    server->route("/-/reload", [this](const exporters::Request& request) {
      if (request.method() != http::verb::post && request.method() != http::verb::put) {
        auto response = exporters::text_response(request, http::status::method_not_allowed,
                                                 "This endpoint requires a POST request.\n");
        response.set(http::field::allow, "POST, PUT");
        return response;
      }
      std::string error;
      if (reload(error)) return exporters::text_response(request, http::status::ok, "");
      return exporters::text_response(request, http::status::internal_server_error,
                                      "failed to reload config: " + error + "\n");
    });
  }

  void wait_for_signal() {
    signals.async_wait([this](const boost::system::error_code& ec, int signal) {
      if (ec) return;
      if (signal == SIGHUP) {
        std::string error;
        reload(error);
        wait_for_signal();
        return;
      }
      spdlog::info("received {}, shutting down", signal == SIGINT ? "SIGINT" : "SIGTERM");
      stop();
    });
  }

  void stop() {
    boost::system::error_code ignored;
    signals.cancel(ignored);
    if (server) server->stop();
    io.stop();
  }

  int run() {
    try {
      server = std::make_unique<exporters::HttpServer>(io, config.agent.listen);
    } catch (const std::system_error& e) {
      spdlog::error("{}", e.what());
      return kExitRuntime;
    }
    self_metrics.config_loaded(true);
    route();
    server->start();
    wait_for_signal();
    spdlog::info("connwatch {} (revision {}) listening on {} (port {}), config {}", kVersion,
                 kRevision, config.agent.listen.to_string(), server->port(),
                 config.source.empty() ? "built-in defaults" : config.source.string());
    io.run();
    server.reset();
    spdlog::info("stopped");
    return kExitOk;
  }
};

Agent::Agent(CliOptions cli, config::Config config)
    : impl_(std::make_unique<Impl>(std::move(cli), std::move(config))) {}

Agent::~Agent() = default;

int Agent::run() { return impl_->run(); }

}  // namespace connwatch::agent
