// GET /probe?target=...&module=... (SPEC §3, Prometheus-driven probing): the blackbox_exporter
// endpoint, served by the agent's HTTP server (so web-config TLS, client certificates and basic
// auth guard it like /metrics). Each request probes its (module, target) once through the pool
// ProbePools keeps for it and answers with that probe's families (probe_answer.h).
//
// Answers: 200 with the families (probe_success 0 is still a 200, as in blackbox); 400 with a
// one-line reason for a missing target, an unknown module, a target the module cannot take or an
// unparsable X-Prometheus-Scrape-Timeout-Seconds; 405 for a method other than GET or HEAD; 503
// with a reason when [probe] max_concurrent probes are already running (so slow targets cannot
// hold all of the web server's connections and starve /metrics), and when a reload (or shutdown)
// closed or replaced the probe's pool while it ran (no probe_success 0: nothing is known about
// the target, and Prometheus records up 0 instead of a false alert).
#pragma once

#include <prometheus/registry.h>

#include <boost/asio/any_io_executor.hpp>
#include <memory>

#include "config/config.h"
#include "config/probe_modules.h"
#include "exporters/http_server.h"
#include "probes/active/probe_pools.h"

namespace connwatch::exporters {

class ProbeEndpoint {
 public:
  // Registers the pools' families in `registry` (startup only: may throw). `modules` may be empty
  // (no module file): every request is then a 400 naming --probe.config.file. The pools take
  // `pool` ([pool]) with settings.idle_timeout ([probe] idle_timeout) in place of its own.
  ProbeEndpoint(const boost::asio::any_io_executor& executor, prometheus::Registry& registry,
                const config::ProbeSettings& settings, const config::PoolSettings& pool,
                config::ProbeModules modules);
  ProbeEndpoint(const ProbeEndpoint&) = delete;
  ProbeEndpoint& operator=(const ProbeEndpoint&) = delete;

  // The handler to route /probe to; it refers to this endpoint, which must outlive the server.
  AsyncHandler handler();

  // A reload: the new modules and settings; pools of removed modules close, the rest keep their
  // connections where the endpoint, TLS and [pool] settings stayed the same.
  void reconfigure(config::ProbeModules modules, const config::ProbeSettings& settings,
                   const config::PoolSettings& pool);
  void stop() { pools_.stop(); }

  const config::ProbeModules& modules() const { return modules_; }
  int in_flight() const { return in_flight_; }
  active::ProbePools& pools() { return pools_; }

 private:
  boost::asio::awaitable<Response> handle(const Request& request);
  // Follows the redirects `report` (the first probe of `first`, module `module_name`) answered
  // with, as blackbox's Go client does: each hop through the pool of the URL it names, within
  // `budget` from `started`. Leaves the answer to give in `report` (nullopt: a hop's pool was
  // closed underneath), its http_redirects counted as Go's client counts them.
  boost::asio::awaitable<void> follow_redirects(const std::string& module_name,
                                                const config::ProbeModule& module,
                                                config::Target first,
                                                std::chrono::steady_clock::time_point started,
                                                std::chrono::steady_clock::duration budget,
                                                std::optional<active::ProbeReport>& report);

  config::ProbeModules modules_;
  bool have_module_file_;
  int max_concurrent_;
  int in_flight_ = 0;  // requests between admission and their answer
  active::ProbePools pools_;
};

}  // namespace connwatch::exporters
