#include "exporters/probe_endpoint.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>

#include "exporters/probe_answer.h"
#include "exporters/probe_request.h"
#include "probes/active/module_target.h"

namespace connwatch::exporters {

namespace asio = boost::asio;
namespace http = boost::beast::http;

namespace {

// [pool] for the /probe pools, with [probe] idle_timeout in place of [pool] idle_timeout.
config::PoolSettings probe_pool_settings(const config::ProbeSettings& settings,
                                         config::PoolSettings pool) {
  pool.idle_timeout = settings.idle_timeout;
  return pool;
}

// The statuses Go's http.Client follows (client.go redirectBehavior).
bool is_followed_redirect(int status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

std::string origin_of(const config::TargetUrl& url) {
  return std::string(config::to_string(url.scheme)) + "://" + url.authority();
}

void fail(active::ProbeReport& report, active::Outcome outcome, std::string error) {
  report.success = false;
  report.outcome = outcome;
  report.error = std::move(error);
}

// One more hop of a followed redirect: the answer describes the last response, as blackbox's
// does, with the connect, tls, processing and transfer times of every hop added up; the address
// and the resolve time stay the first target's (blackbox resolves the target once).
void add_hop(active::ProbeReport& into, const active::ProbeReport& hop) {
  auto phases = into.phase_seconds;
  for (std::size_t i = 0; i < phases.size(); ++i) {
    if (i == active::index_of(active::Phase::kResolve)) continue;  // the first target's
    if (hop.phase_seconds[i]) phases[i] = phases[i].value_or(0.0) + *hop.phase_seconds[i];
  }
  const auto address = into.ip_address;
  const int family = into.ip_family;
  const auto started_at = into.started_at;
  into = hop;
  into.phase_seconds = phases;
  into.ip_address = address;
  into.ip_family = family;
  into.started_at = started_at;
}

}  // namespace

ProbeEndpoint::ProbeEndpoint(const asio::any_io_executor& executor, prometheus::Registry& registry,
                             const config::ProbeSettings& settings,
                             const config::PoolSettings& pool, config::ProbeModules modules)
    : modules_(std::move(modules)),
      have_module_file_(!settings.config_file.empty()),
      max_concurrent_(settings.max_concurrent),
      pools_(executor, registry, static_cast<std::size_t>(settings.max_pools),
             probe_pool_settings(settings, pool)) {
  pools_.load_tls_contexts(modules_);  // before the privilege drop: root-only keys load
}

void ProbeEndpoint::reconfigure(config::ProbeModules modules, const config::ProbeSettings& settings,
                                const config::PoolSettings& pool) {
  modules_ = std::move(modules);
  have_module_file_ = !settings.config_file.empty();
  max_concurrent_ = settings.max_concurrent;
  pools_.reconfigure(modules_, static_cast<std::size_t>(settings.max_pools),
                     probe_pool_settings(settings, pool));
}

AsyncHandler ProbeEndpoint::handler() {
  return [this](const Request& request) { return handle(request); };
}

asio::awaitable<Response> ProbeEndpoint::handle(const Request& request) {
  if (request.method() != http::verb::get && request.method() != http::verb::head) {
    auto response =
        text_response(request, http::status::method_not_allowed, "only GET and HEAD are allowed\n");
    response.set(http::field::allow, "GET, HEAD");
    co_return response;
  }
  const auto bad_request = [&](const std::string& why) {
    spdlog::debug("/probe: 400 for {}: {}", std::string(request.target()), why);
    return text_response(request, http::status::bad_request, why + "\n");
  };
  std::string error;
  const auto query = parse_probe_query(request.target(), error);
  if (!query) co_return bad_request(error);
  const auto module = modules_.find(query->module);
  if (module == modules_.end()) {
    co_return bad_request(
        have_module_file_
            ? fmt::format("Unknown module \"{}\" (the module file defines {} module(s))",
                          query->module, modules_.size())
            : fmt::format("Unknown module \"{}\": no module file (give --probe.config.file or "
                          "[probe] config_file)",
                          query->module));
  }
  const auto target =
      active::make_module_target(module->second, query->target, pools_.pool_settings(), error);
  if (!target) co_return bad_request(error);
  std::optional<std::string_view> header;
  if (const auto it = request.find("X-Prometheus-Scrape-Timeout-Seconds"); it != request.end()) {
    header = it->value();
  }
  const auto timeout = probe_timeout(header, module->second.timeout, kProbeTimeoutOffset, error);
  if (!timeout) co_return bad_request(error);

  if (in_flight_ >= max_concurrent_) {
    spdlog::debug("/probe: 503 for {}: {} probes in flight", std::string(request.target()),
                  in_flight_);
    co_return text_response(
        request, http::status::service_unavailable,
        fmt::format("too many probes in flight ({}, [probe] max_concurrent): try again later\n",
                    in_flight_));
  }
  // Released when the answer is made or the coroutine is destroyed (server shutdown).
  struct InFlight {
    int& count;
    explicit InFlight(int& c) : count(c) { ++count; }
    ~InFlight() { --count; }
    InFlight(const InFlight&) = delete;
    InFlight& operator=(const InFlight&) = delete;
  } in_flight(in_flight_);

  // Kept for redirects and the answer: a reload may replace the module while the probe runs.
  const config::ProbeModule module_copy = module->second;
  const auto budget = std::chrono::duration_cast<std::chrono::steady_clock::duration>(*timeout);
  const auto started = std::chrono::steady_clock::now();
  std::optional<active::ProbeReport> report =
      co_await pools_.probe(query->module, query->target, *target, budget);
  co_await follow_redirects(query->module, module_copy, *target, started, budget, report);
  if (!report) {
    // Its pool was closed or replaced underneath (a reload, or shutdown): nothing is known about
    // the target, so no probe_success 0 (a false alert) but a 503 (Prometheus records up 0).
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    spdlog::debug("/probe module {} target {}: 503, its pool was closed after {:.3f} s",
                  query->module, query->target, seconds);
    co_return text_response(request, http::status::service_unavailable,
                            "the probe was cut short: a reload replaced its pool (or the agent is "
                            "stopping); the next scrape probes again\n");
  }
  spdlog::debug("/probe module {} target {}: {} in {:.3f} s ({} connection){}{}", query->module,
                query->target, active::to_string(report->outcome), report->duration_seconds,
                report->connection_reused ? "reused" : "new", report->error.empty() ? "" : ": ",
                report->error);
  auto response =
      query->debug ? text_response(
                         request, http::status::ok,
                         render_probe_debug(module_copy, query->target,
                                            std::chrono::duration<double>(budget).count(), *report),
                         "text/plain; charset=utf-8")
                   : text_response(request, http::status::ok,
                                   render_probe_answer(module_copy.prober, *report),
                                   "text/plain; version=0.0.4; charset=utf-8");
  if (request.method() == http::verb::head) {
    const auto length = response.body().size();
    response.body().clear();
    response.content_length(length);
  }
  co_return response;
}

asio::awaitable<void> ProbeEndpoint::follow_redirects(const std::string& module_name,
                                                      const config::ProbeModule& module,
                                                      config::Target first,
                                                      std::chrono::steady_clock::time_point started,
                                                      std::chrono::steady_clock::duration budget,
                                                      std::optional<active::ProbeReport>& report) {
  // A hop to a target probed in its own right shares that target's (module, URL) pool.
  config::Target hop = std::move(first);
  int redirects = 0;
  while (report && module.follow_redirects && is_followed_redirect(report->http_status) &&
         !report->http_location.empty()) {
    const auto next = redirect_target(origin_of(hop.url), hop.url.path, report->http_location);
    // Counted like Go's client counts them (blackbox's probe_http_redirects): a redirect it
    // refuses to follow is counted too.
    if (!next) {
      ++redirects;
      fail(*report, active::Outcome::kOther,
           "cannot follow the redirect to \"" + report->http_location + "\" (not http or https)");
      break;
    }
    if (redirects == kMaxRedirects) {
      ++redirects;
      fail(*report, active::Outcome::kOther,
           fmt::format("stopped after {} redirects", kMaxRedirects));
      break;
    }
    config::ProbeModule hop_module = module;
    if (report->http_status == 303 || ((report->http_status == 301 || report->http_status == 302) &&
                                       hop_module.method != "GET" && hop_module.method != "HEAD")) {
      hop_module.method = "GET";  // as Go's client (and browsers) do
      hop_module.body.clear();
    }
    std::string hop_error;
    const auto next_target =
        active::make_module_target(hop_module, *next, pools_.pool_settings(), hop_error);
    if (!next_target) {
      fail(*report, active::Outcome::kOther, "redirect to " + *next + ": " + hop_error);
      break;
    }
    const auto remaining = budget - (std::chrono::steady_clock::now() - started);
    if (remaining <= std::chrono::steady_clock::duration::zero()) {
      fail(*report, active::Outcome::kTimeout,
           fmt::format("the deadline passed after {} redirect(s)", redirects));
      break;
    }
    auto next_report = co_await pools_.probe(module_name, *next, *next_target, remaining);
    if (!next_report) {
      report.reset();
      break;
    }
    ++redirects;
    add_hop(*report, *next_report);
    report->duration_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    hop = *next_target;
  }
  if (report && !module.follow_redirects && is_followed_redirect(report->http_status) &&
      !report->http_location.empty()) {
    redirects = 1;  // met and not followed: Go's CheckRedirect has counted it (blackbox's value)
  }
  if (report) report->http_redirects = redirects;
}

}  // namespace connwatch::exporters
