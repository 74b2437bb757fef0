// The warm pools behind /probe (SPEC §3, Prometheus-driven probing): one ProbeHarness, and so one
// ConnectionPool, per (module, target), kept between scrapes so the next scrape of a target reuses
// its connection while the pool's idle watch still retires connections the server closed. At most
// `max_pools` are kept; past that the least recently probed pool with no probe in flight is closed
// (reason shutdown) and forgotten. When a pool is needed again within kThrashWindow of its
// eviction (more pairs are scraped than max_pools: every scrape dials anew), a warning says to
// raise [probe] max_pools, at most once per kThrashWindow. Single-threaded: call everything on the
// executor's thread.
//
// The pools' own counts stay out of /metrics (a thousand targets chosen by Prometheus would be a
// thousand label values); what /metrics shows is connwatch_probe_endpoint_pools and
// connwatch_probe_endpoint_pool_evictions_total.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/config.h"
#include "config/probe_modules.h"
#include "probes/active/active_metrics.h"
#include "probes/active/probe_harness.h"
#include "probes/active/probe_report.h"

namespace connwatch::active {

class ProbePools {
 public:
  // Registers connwatch_probe_endpoint_pools and connwatch_probe_endpoint_pool_evictions_total in
  // `registry` (throws on a clash: startup only). `pool` is [pool], for every (module, target).
  ProbePools(const boost::asio::any_io_executor& executor, prometheus::Registry& registry,
             std::size_t max_pools, config::PoolSettings pool);
  ~ProbePools();
  ProbePools(const ProbePools&) = delete;
  ProbePools& operator=(const ProbePools&) = delete;

  // The pool of (module.name, target), made most recently used: the existing one, or a new one
  // (after evicting the least recently used idle pools beyond max_pools). `target` is the probe
  // target as config::Target (module_target.h); `key` is what the scrape wrote as target.
  std::shared_ptr<ProbeHarness> acquire(const std::string& module, const std::string& key,
                                        const config::Target& target);

  // One probe of (module, target) through its pool, within `budget`. nullopt: the pool was closed
  // underneath (stop(), or a reload that removed the module).
  boost::asio::awaitable<std::optional<ProbeReport>> probe(
      const std::string& module, const std::string& key, const config::Target& target,
      std::chrono::steady_clock::duration budget);

  // The modules' TLS client contexts: one per module with a tls_config, shared by its pools, built
  // here (at startup and reload, on the caller's thread: before the privilege drop at startup, so
  // a root-only key loads) rather than per pool on the io thread. A module whose tls_config did
  // not change keeps its context. A file that cannot be loaded is logged (error) and the module's
  // https probes fail as tls_error.
  void load_tls_contexts(const config::ProbeModules& modules);
  // The context of `module`, null when it has no tls_config; for tests.
  std::shared_ptr<boost::asio::ssl::context> tls_context(const std::string& module) const;

  // A reload: the modules' TLS contexts are loaded (load_tls_contexts), pools whose module is gone
  // are closed; the others take the new module's and [pool]'s settings (ProbeHarness::reconfigure
  // keeps their connections when the endpoint, TLS and pool settings stayed). Beyond `max_pools`
  // the least recently used idle pools are closed at once.
  void reconfigure(const config::ProbeModules& modules, std::size_t max_pools,
                   const config::PoolSettings& pool);

  // Closes every pool (reason shutdown). Later probes find no pool and make none.
  void stop();

  std::size_t size() const { return entries_.size(); }
  std::size_t max_pools() const { return max_pools_; }
  std::uint64_t evictions() const { return evictions_; }
  // Pools made again within kThrashWindow of their eviction.
  std::uint64_t thrashes() const { return thrashes_; }
  static constexpr std::chrono::minutes kThrashWindow{10};
  // Keys (module, target) from most to least recently used; for tests and the landing page.
  std::vector<std::pair<std::string, std::string>> keys() const;
  // The counts of one pool (opened connections, requests new and reused), if kept.
  const TargetCounts* counts(const std::string& module, const std::string& key) const;
  const config::PoolSettings& pool_settings() const { return pool_; }

 private:
  struct Entry {
    std::string module;
    std::string key;
    std::shared_ptr<ProbeHarness> harness;
    int in_flight = 0;
  };
  using List = std::list<Entry>;

  static std::string map_key(std::string_view module, std::string_view key);
  void evict_beyond(std::size_t limit);
  void close(List::iterator it);
  void update_gauge();

  boost::asio::any_io_executor executor_;
  std::size_t max_pools_;
  config::PoolSettings pool_;
  // The pools' TargetMetrics need families; these live in a registry nobody serves.
  prometheus::Registry private_registry_;
  ActiveMetrics families_;
  boost::asio::ssl::context tls_;
  struct ModuleTls {
    config::TlsSettings settings;
    std::shared_ptr<boost::asio::ssl::context> context;
  };
  std::unordered_map<std::string, ModuleTls> module_tls_;
  List lru_;  // most recently used first
  std::unordered_map<std::string, List::iterator> entries_;
  std::uint64_t evictions_ = 0;
  // Keys evicted lately and when (at most kMaxRecentlyEvicted: cleared beyond), to tell thrashing.
  std::unordered_map<std::string, std::chrono::steady_clock::time_point> recently_evicted_;
  static constexpr std::size_t kMaxRecentlyEvicted = 4096;
  std::uint64_t thrashes_ = 0;
  std::optional<std::chrono::steady_clock::time_point> warned_thrash_at_;
  bool stopped_ = false;
  prometheus::Gauge& pools_gauge_;
  prometheus::Counter& evictions_counter_;
};

}  // namespace connwatch::active
