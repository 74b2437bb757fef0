#include "agent/agent.h"

#include <fmt/format.h>
#include <prometheus/registry.h>
#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <csignal>
#include <filesystem>
#include <mutex>
#include <utility>

#include "agent/logging.h"
#include "agent/privileges.h"
#include "agent/probe_options.h"
#include "agent/self_metrics.h"
#include "config/loader.h"
#include "connwatch/version.h"
#include "exporters/http_server.h"
#include "exporters/landing_page.h"
#include "exporters/metrics_handler.h"
#include "probes/active/probe_scheduler.h"
#include "probes/kernel/kernel_metrics.h"
#include "probes/kernel/kernel_poller.h"
#include "probes/passive/live_capture.h"
#include "probes/passive/passive_metrics.h"

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
  if (cli.log_format) config.agent.log_format = *cli.log_format;
  if (cli.web_config_file) config.web.config_file = *cli.web_config_file;
}

// "success (first_try, 1.2 ms, reused connection)" or "reset after 3 attempts: ...".
std::string last_result_text(const active::ProbeReport& report) {
  std::string text = fmt::format("{} ({}, {:.1f} ms", active::to_string(report.outcome),
                                 active::to_string(report.result), report.duration_seconds * 1e3);
  if (report.http_status != 0) text += fmt::format(", HTTP {}", report.http_status);
  if (report.retries > 0) text += fmt::format(", {} retries", report.retries);
  text += report.connection_reused ? ", reused connection)" : ", new connection)";
  if (!report.error.empty()) text += ": " + report.error;
  return text;
}

}  // namespace

std::optional<config::Config> load_config_for(const CliOptions& cli, std::ostream& err) {
  const std::string path = config_path_for(cli);
  config::Config config;
  if (!cli.config_path && !std::filesystem::exists(path)) {
    log::info("no config file, running with the built-in defaults", {{"file", path}});
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

  // Passive capture and kernel collection run on their own threads; their metric families are
  // registered once, at startup, and outlive restarts of the threads on reload.
  std::unique_ptr<passive::PassiveMetrics> passive_metrics;
  std::unique_ptr<passive::LiveCapture> capture;
  std::unique_ptr<kernel::KernelMetrics> kernel_metrics;
  std::unique_ptr<kernel::KernelPoller> kernel_poller;
  // Active probes run on the io_context thread, like the HTTP endpoint.
  std::unique_ptr<active::ProbeScheduler> probes;

  void start_capture() {
    capture.reset();
    if (!config.capture.enabled) {
      passive_metrics->capture_up().Set(0);
      spdlog::info("passive capture disabled in config");
      return;
    }
    capture = std::make_unique<passive::LiveCapture>(
        capture_options(config.capture), tracker_options(config.capture), passive_metrics.get());
    capture->start();  // logs itself: up, or one warning and retries with backoff
  }

  void start_kernel() {
    kernel_poller.reset();
    if (!config.sockets.enabled) {
      spdlog::info("kernel socket collection disabled in config");
      return;
    }
    kernel_poller = std::make_unique<kernel::KernelPoller>(kernel_options(config.sockets),
                                                           kernel_metrics.get());
  }

  // Startup: registration may throw (a name clash is a bug, reported as a runtime failure).
  void start_observers() {
    passive_metrics =
        std::make_unique<passive::PassiveMetrics>(*registry, tracker_options(config.capture));
    kernel_metrics = std::make_unique<kernel::KernelMetrics>(*registry);
    start_capture();
    start_kernel();
    probes = std::make_unique<active::ProbeScheduler>(io, *registry, config.targets);
    probes->start();
    if (config.targets.empty()) spdlog::info("no [[target]] configured: no active probes");
  }

  // Restarts what a reload changed. The peer slots of the passive metrics are sized at startup.
  void apply_reload(const config::Config& previous) {
    if (config.capture.max_peers != previous.capture.max_peers) {
      spdlog::warn("capture.max_peers changed to {}; it takes effect at the next restart",
                   config.capture.max_peers);
      config.capture.max_peers = previous.capture.max_peers;
    }
    if (!(config.capture == previous.capture)) start_capture();
    if (!(config.sockets == previous.sockets)) start_kernel();
    if (!(config.targets == previous.targets)) probes->reconfigure(config.targets);
  }

  void stop_observers() {
    if (capture) capture->stop();
    if (kernel_poller) kernel_poller->stop();
    if (probes) probes->stop();
  }

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
      if (!(next.web == config.web)) {
        spdlog::warn("[web] changed; TLS and basic auth settings take effect at the next restart");
        next.web = config.web;
      }
      if (next.agent.user != config.agent.user || next.agent.group != config.agent.group) {
        spdlog::warn("agent.user/group changed; they take effect at the next restart");
        next.agent.user = config.agent.user;
        next.agent.group = config.agent.group;
      }
      config::Config previous = std::exchange(config, std::move(next));
      apply_reload(previous);
      set_log_level(config.agent.log_level);
      set_log_format(config.agent.log_format);
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
    if (!config.capture.enabled) {
      info.capture_status = "disabled in config";
    } else if (capture && capture->up()) {
      info.capture_status = "up on " + config.capture.interface;
    } else {
      info.capture_status = "down on " + config.capture.interface + ": " +
                            (capture ? capture->last_error() : std::string("not started"));
    }
    for (const auto& t : config.targets) {
      std::string last = "not probed yet";
      if (const auto snapshot = probes ? probes->snapshot(t.name) : std::nullopt;
          snapshot && snapshot->last) {
        last = last_result_text(*snapshot->last);
      }
      info.targets.push_back({t.name, t.url_text, config::format_duration(t.interval), last});
    }
    return info;
  }

  void route() {
    server->route("/metrics",
                  exporters::metrics_handler({registry, self_metrics.process_collector()}));
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
      log::info("shutting down", {{"signal", signal == SIGINT ? "SIGINT" : "SIGTERM"}});
      stop();
    });
  }

  void stop() {
    boost::system::error_code ignored;
    signals.cancel(ignored);
    if (server) server->stop();
    stop_observers();
    io.stop();
  }

  int run() {
    try {
      server = std::make_unique<exporters::HttpServer>(io, config.agent.listen, config.web);
    } catch (const std::exception& e) {
      spdlog::error("{}", e.what());
      return kExitRuntime;
    }
    self_metrics.config_loaded(true);
    start_observers();
    if (!config.agent.user.empty()) {
      try {
        drop_privileges(config.agent.user, config.agent.group);
      } catch (const std::runtime_error& e) {
        spdlog::error("{}", e.what());
        stop_observers();
        return kExitRuntime;
      }
      spdlog::info(
          "running as {}:{} with no capabilities ({}); a capture that fails from now "
          "on cannot reopen until restart",
          config.agent.user, config.agent.group.empty() ? "-" : config.agent.group,
          capability_text());
    }
    route();
    server->start();
    wait_for_signal();
    log::info("listening", {{"version", kVersion},
                            {"revision", kRevision},
                            {"address", config.agent.listen.to_string()},
                            {"port", server->port()},
                            {"config", config.source.empty() ? std::string("built-in defaults")
                                                             : config.source.string()}});
    io.run();
    probes.reset();
    server.reset();
    capture.reset();
    kernel_poller.reset();
    spdlog::info("stopped");
    return kExitOk;
  }
};

Agent::Agent(CliOptions cli, config::Config config)
    : impl_(std::make_unique<Impl>(std::move(cli), std::move(config))) {}

Agent::~Agent() = default;

int Agent::run() { return impl_->run(); }

}  // namespace connwatch::agent
