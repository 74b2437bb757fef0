#include "probes/active/probe_pools.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <spdlog/spdlog.h>

#include "probes/active/module_target.h"
#include "probes/active/tls_client_context.h"

namespace connwatch::active {

namespace asio = boost::asio;

ProbePools::ProbePools(const asio::any_io_executor& executor, prometheus::Registry& registry,
                       std::size_t max_pools, config::PoolSettings pool)
    : executor_(executor),
      max_pools_(std::max<std::size_t>(1, max_pools)),
      pool_(pool),
      families_(private_registry_),
      tls_(asio::ssl::context::tls_client),
      pools_gauge_(prometheus::BuildGauge()
                       .Name("connwatch_probe_endpoint_pools")
                       .Help("(module, target) pools /probe keeps warm between scrapes")
                       .Register(registry)
                       .Add({})),
      evictions_counter_(prometheus::BuildCounter()
                             .Name("connwatch_probe_endpoint_pool_evictions_total")
                             .Help("/probe pools closed because more than [probe] max_pools "
                                   "(module, target) pairs were probed")
                             .Register(registry)
                             .Add({})) {
  tls_.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                   asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                   asio::ssl::context::no_tlsv1_1);
  boost::system::error_code ec;
  tls_.set_default_verify_paths(ec);
  if (ec) spdlog::warn("/probe: cannot load the system trust store: {}", ec.message());
  tls_.set_verify_mode(asio::ssl::verify_peer);
}

ProbePools::~ProbePools() { stop(); }

std::string ProbePools::map_key(std::string_view module, std::string_view key) {
  std::string k(module);
  k += '\0';  // module names and targets never contain NUL: no two pairs share a key
  k += key;
  return k;
}

void ProbePools::update_gauge() { pools_gauge_.Set(static_cast<double>(entries_.size())); }

void ProbePools::close(List::iterator it) {
  it->harness->stop();
  entries_.erase(map_key(it->module, it->key));
  lru_.erase(it);
}

void ProbePools::evict_beyond(std::size_t limit) {
  // From the least recently used end; a pool with a probe in flight stays until it is done (the
  // limit is then exceeded for as long as that probe runs).
  for (auto it = lru_.end(); entries_.size() > limit && it != lru_.begin();) {
    --it;
    if (it->in_flight > 0) continue;
    spdlog::debug(
        "/probe: more than {} pools, closing the least recently used: module {} target {}", limit,
        it->module, it->key);
    if (recently_evicted_.size() >= kMaxRecentlyEvicted) recently_evicted_.clear();
    recently_evicted_[map_key(it->module, it->key)] = std::chrono::steady_clock::now();
    close(it++);
    ++evictions_;
    evictions_counter_.Increment();
  }
}

std::shared_ptr<ProbeHarness> ProbePools::acquire(const std::string& module, const std::string& key,
                                                  const config::Target& target) {
  if (stopped_) return nullptr;
  if (const auto found = entries_.find(map_key(module, key)); found != entries_.end()) {
    lru_.splice(lru_.begin(), lru_, found->second);
    return found->second->harness;
  }
  if (const auto evicted = recently_evicted_.find(map_key(module, key));
      evicted != recently_evicted_.end()) {
    const auto now = std::chrono::steady_clock::now();
    const auto ago = now - evicted->second;
    recently_evicted_.erase(evicted);
    if (ago < kThrashWindow) {
      ++thrashes_;
      if (!warned_thrash_at_ || now - *warned_thrash_at_ >= kThrashWindow) {
        warned_thrash_at_ = now;
        spdlog::warn(
            "/probe: module {} target {} needs a new pool {:.0f} s after its pool was evicted: "
            "more (module, target) pairs are probed than [probe] max_pools ({}), so scrapes dial "
            "anew instead of reusing connections; raise [probe] max_pools ({} evictions so far; "
            "this warning repeats at most every {} minutes)",
            module, key, std::chrono::duration<double>(ago).count(), max_pools_, evictions_,
            kThrashWindow.count());
      }
    }
  }
  evict_beyond(max_pools_ - 1);
  // Series the pool's TargetMetrics would add are removed at once: only the counts stay.
  auto metrics = std::make_shared<TargetMetrics>(families_, target.name);
  metrics->remove_series();
  Entry entry{
      module, key,
      ProbeHarness::create(executor_, target, std::move(metrics), &tls_, {}, tls_context(module)),
      0};
  lru_.push_front(std::move(entry));
  entries_.emplace(map_key(module, key), lru_.begin());
  update_gauge();
  return lru_.front().harness;
}

asio::awaitable<std::optional<ProbeReport>> ProbePools::probe(
    const std::string& module, const std::string& key, const config::Target& target,
    std::chrono::steady_clock::duration budget) {
  const auto harness = acquire(module, key, target);
  if (!harness) co_return std::nullopt;
  const std::string k = map_key(module, key);
  auto in_flight = [&](int delta) {
    // The entry may have been closed (reload, stop) while the probe ran.
    if (const auto it = entries_.find(k); it != entries_.end() && it->second->harness == harness) {
      it->second->in_flight += delta;
    }
  };
  in_flight(+1);
  std::optional<ProbeReport> report = co_await harness->run(budget);
  in_flight(-1);
  evict_beyond(max_pools_);  // what stayed over the limit while its probe ran
  update_gauge();
  co_return report;
}

void ProbePools::load_tls_contexts(const config::ProbeModules& modules) {
  std::unordered_map<std::string, ModuleTls> next;
  for (const auto& [name, module] : modules) {
    if (module.prober != config::ProberKind::kHttp || module.tls.is_default()) continue;
    if (const auto old = module_tls_.find(name);
        old != module_tls_.end() && old->second.settings == module.tls) {
      next.emplace(name, old->second);
      continue;
    }
    std::string error;
    auto context = make_tls_client_context(module.tls, error);
    if (!error.empty()) spdlog::error("/probe: module {}: tls_config: {}", name, error);
    next.emplace(name, ModuleTls{module.tls, std::move(context)});
  }
  module_tls_ = std::move(next);
}

std::shared_ptr<asio::ssl::context> ProbePools::tls_context(const std::string& module) const {
  const auto it = module_tls_.find(module);
  return it == module_tls_.end() ? nullptr : it->second.context;
}

void ProbePools::reconfigure(const config::ProbeModules& modules, std::size_t max_pools,
                             const config::PoolSettings& pool) {
  load_tls_contexts(modules);
  max_pools_ = std::max<std::size_t>(1, max_pools);
  pool_ = pool;
  for (auto it = lru_.begin(); it != lru_.end();) {
    const auto module = modules.find(it->module);
    std::string error;
    std::optional<config::Target> target;
    if (module != modules.end()) target = make_module_target(module->second, it->key, pool_, error);
    if (!target) {
      close(it++);
      continue;
    }
    it->harness->reconfigure(*target, tls_context(it->module));
    ++it;
  }
  evict_beyond(max_pools_);
  update_gauge();
}

void ProbePools::stop() {
  if (stopped_) return;
  stopped_ = true;
  while (!lru_.empty()) close(lru_.begin());
  update_gauge();
}

std::vector<std::pair<std::string, std::string>> ProbePools::keys() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& e : lru_) out.emplace_back(e.module, e.key);
  return out;
}

const TargetCounts* ProbePools::counts(const std::string& module, const std::string& key) const {
  const auto it = entries_.find(map_key(module, key));
  return it == entries_.end() ? nullptr : &it->second->harness->metrics().counts();
}

}  // namespace connwatch::active
