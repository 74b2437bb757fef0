#include "agent/agent.h"

#include <fmt/format.h>
#include <prometheus/registry.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <csignal>
#include <filesystem>
#include <mutex>
#include <system_error>
#include <utility>
#include <vector>

#include "agent/logging.h"
#include "agent/privileges.h"
#include "agent/probe_options.h"
#include "agent/self_metrics.h"
#include "config/loader.h"
#include "config/probe_modules.h"
#include "connwatch/version.h"
#include "exporters/http_server.h"
#include "exporters/landing_page.h"
#include "exporters/metrics_handler.h"
#include "exporters/probe_endpoint.h"
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
  if (cli.probe_config_file) config.probe.config_file = *cli.probe_config_file;
}

// The blackbox modules /probe serves (SPEC §3): none without a module file. Throws ConfigError
// naming file:line:column and the module key of every problem.
config::ProbeModules load_probe_modules(const config::Config& config) {
  if (config.probe.config_file.empty()) return {};
  return config::load_probe_modules_file(config.probe.config_file);
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

// Whether the default config file is absent (so the built-in defaults apply). An error finding
// out (a directory the agent may not enter) is not absence: the load then fails and says why.
bool default_config_absent(const CliOptions& cli, const std::string& path) {
  std::error_code ec;
  return !cli.config_path && !std::filesystem::exists(path, ec) && !ec;
}

}  // namespace

std::optional<StartupConfig> load_startup_config(const CliOptions& cli, std::ostream& err) {
  const std::string path = config_path_for(cli);
  config::Config config;
  if (default_config_absent(cli, path)) {
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
  StartupConfig startup;
  try {
    startup.probe_modules = load_probe_modules(config);  // errors before anything starts
  } catch (const config::ConfigError& e) {
    for (const auto& message : e.messages()) err << message << '\n';
    return std::nullopt;
  }
  startup.config = std::move(config);
  return startup;
}

std::optional<config::Config> load_config_for(const CliOptions& cli, std::ostream& err) {
  auto startup = load_startup_config(cli, err);
  if (!startup) return std::nullopt;
  return std::move(startup->config);
}

struct Agent::Impl {
  Impl(CliOptions options, StartupConfig initial)
      : cli(std::move(options)),
        config(std::move(initial.config)),
        initial_modules(std::move(initial.probe_modules)),
        registry(std::make_shared<prometheus::Registry>()),
        self_metrics(*registry),
        signals(io, SIGINT, SIGTERM, SIGHUP) {}

  CliOptions cli;
  config::Config config;
  config::ProbeModules initial_modules;  // load_startup_config's, handed to /probe at startup
  bool last_reload_ok = true;
  bool privileges_dropped = false;
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
  // /probe: blackbox modules and the (module, target) pools kept between scrapes.
  std::unique_ptr<exporters::ProbeEndpoint> probe_endpoint;

  void start_capture() {
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
    config::ProbeModules modules = std::move(initial_modules);
    if (!config.probe.config_file.empty()) {
      spdlog::info("/probe: {} module(s) from {}", modules.size(), config.probe.config_file);
    }
    probe_endpoint = std::make_unique<exporters::ProbeEndpoint>(
        io.get_executor(), *registry, config.probe, config.pool, std::move(modules));
  }

  // Applies a reloaded [capture] to the running capture, keeping its flows, peer table and
  // counts. ports, max_peers, max_flows and flow_idle_timeout apply in place (no new handle, no
  // privilege needed). Another interface, buffer_size, snaplen or threads needs new pcap handles,
  // opened before the old ones go: when they cannot be opened (no CAP_NET_RAW after the privilege
  // drop, no such interface) returns false with `why` and the old capture runs on unchanged.
  bool apply_capture(const config::CaptureSettings& next, std::string& why) {
    const config::CaptureSettings& running = config.capture;
    if (next == running) return true;
    if (!next.enabled) {
      if (capture) capture->stop();
      passive_metrics->capture_up().Set(0);
      spdlog::info("passive capture disabled in config");
      return true;
    }
    const bool new_handle = !running.enabled || !capture || next.interface != running.interface ||
                            next.buffer_size != running.buffer_size ||
                            next.snaplen != running.snaplen || next.threads != running.threads;
    const bool created = !capture;
    if (created) {
      passive_metrics->set_max_peers(static_cast<std::size_t>(next.max_peers));
      capture = std::make_unique<passive::LiveCapture>(capture_options(next), tracker_options(next),
                                                       passive_metrics.get());
    }
    if (new_handle) {
      std::string error;
      if (!capture->reopen(capture_options(next), error)) {
        if (created) capture.reset();
        why = fmt::format(
            "[capture] changed to interface {} (buffer_size {}, snaplen {}, threads {}), which "
            "needs a new capture, but it cannot be opened: {}; {}",
            next.interface, next.buffer_size, next.snaplen, next.threads, error,
            running.enabled ? "the capture on " + running.interface + " keeps running"
                            : std::string("capture stays disabled"));
        if (privileges_dropped) {
          why += fmt::format(R"( (running as "{}" without capabilities: restart to apply))",
                             config.agent.user);
        }
        return false;
      }
      spdlog::info(
          "passive capture reopened on {} for the new [capture]; flows, peers and counts "
          "kept",
          next.interface);
    }
    capture->reconfigure(tracker_options(next));
    return true;
  }

  void stop_observers() {
    if (capture) capture->stop();
    if (kernel_poller) kernel_poller->stop();
    if (probes) probes->stop();
    if (probe_endpoint) probe_endpoint->stop();
  }

  // Loads the config file again and applies it. Every failure on the way (a file or directory the
  // agent can no longer read, a config error, a capture that cannot be reopened, any exception)
  // is a failed reload: logged with its reason, connwatch_config_last_reload_successful 0, the
  // running config kept. Nothing escapes to the io_context.
  bool reload(std::string& error) {
    std::vector<std::string> problems;
    try {
      if (try_reload(problems)) {
        last_reload_ok = true;
        self_metrics.config_loaded(true);
        spdlog::info("config reloaded from {} ({} targets)", config_path_for(cli),
                     config.targets.size());
        return true;
      }
    } catch (const config::ConfigError& e) {
      problems = e.messages();
    } catch (const std::exception& e) {
      problems = {e.what()};
    } catch (...) {
      problems = {"unknown error"};
    }
    error.clear();
    for (const auto& message : problems) {
      spdlog::error("config reload failed, the running config stays: {}", message);
      error += (error.empty() ? "" : "; ") + message;
    }
    last_reload_ok = false;
    self_metrics.config_loaded(false);
    return false;
  }

  // The reload proper: false with `problems` before anything changed, or throws.
  bool try_reload(std::vector<std::string>& problems) {
    const std::string path = config_path_for(cli);
    const bool defaults = default_config_absent(cli, path);
    if (!defaults && privileges_dropped && ::access(path.c_str(), R_OK) != 0) {
      const int access_errno = errno;
      problems.push_back(fmt::format(
          R"({}: cannot read config file as user "{}": {} (after the privilege drop the file )"
          "and every directory above it must stay readable by [agent] user)",
          path, config.agent.user, std::system_category().message(access_errno)));
      return false;
    }
    config::Config next = defaults ? config::Config{} : config::load_config_file(path);
    apply_overrides(cli, next);
    // The module file is part of the config: a broken one fails the reload (ConfigError, with
    // file:line:column and key) before anything changed, and the running modules stay.
    config::ProbeModules modules = load_probe_modules(next);
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
    // The capture first: it is the one step that can fail once privileges are dropped, and
    // when it does nothing else has changed yet.
    std::string why;
    if (!apply_capture(next.capture, why)) {
      problems.push_back(why);
      return false;
    }
    config::Config previous = std::exchange(config, std::move(next));
    if (!(config.sockets == previous.sockets)) start_kernel();
    if (!(config.targets == previous.targets)) probes->reconfigure(config.targets);
    if (probe_endpoint) {
      const bool changed = !(modules == probe_endpoint->modules()) ||
                           !(config.probe == previous.probe) || !(config.pool == previous.pool);
      probe_endpoint->reconfigure(std::move(modules), config.probe, config.pool);
      if (changed && !config.probe.config_file.empty()) {
        spdlog::info("/probe: {} module(s) from {}", probe_endpoint->modules().size(),
                     config.probe.config_file);
      }
    }
    set_log_level(config.agent.log_level);
    set_log_format(config.agent.log_format);
    return true;
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
    server->route("/probe", probe_endpoint->handler());
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
      PrivilegeDrop dropped;
      try {
        dropped = drop_privileges(config.agent.user, config.agent.group);
      } catch (const std::runtime_error& e) {
        spdlog::error("{}", e.what());
        stop_observers();
        return kExitRuntime;
      }
      privileges_dropped = true;
      spdlog::info(
          "running as {}:{} with no capabilities on any of its {} threads ({}{}); a capture "
          "that fails from now on, or a reload to another interface or buffer size, cannot "
          "reopen until restart",
          config.agent.user, config.agent.group.empty() ? "-" : config.agent.group, dropped.threads,
          capability_text(),
          dropped.identity_changed ? "" : ", already that user: capabilities dropped only");
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
    probe_endpoint.reset();
    server.reset();
    capture.reset();
    kernel_poller.reset();
    spdlog::info("stopped");
    return kExitOk;
  }
};

Agent::Agent(CliOptions cli, StartupConfig startup)
    : impl_(std::make_unique<Impl>(std::move(cli), std::move(startup))) {}

Agent::~Agent() = default;

int Agent::run() { return impl_->run(); }

}  // namespace connwatch::agent
