#include "probes/active/probe_scheduler.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <exception>

#include "probes/active/asio_endpoint.h"

namespace connwatch::active {

namespace asio = boost::asio;

struct ProbeScheduler::Entry {
  Entry(asio::io_context& io, config::Target t, std::shared_ptr<ProbeHarness> h)
      : target(std::move(t)), harness(std::move(h)), timer(io) {}

  config::Target target;
  std::shared_ptr<ProbeHarness> harness;
  asio::steady_timer timer;
  std::function<void(const TargetSnapshot&)> on_probe;
  bool running = false;
  bool stopped = false;
  std::uint64_t skipped = 0;
};

ProbeScheduler::ProbeScheduler(asio::io_context& io, prometheus::Registry& registry,
                               std::vector<config::Target> targets, SchedulerOptions options)
    : io_(io),
      families_(registry),
      options_(std::move(options)),
      tls_(asio::ssl::context::tls_client) {
  if (!options_.random) options_.random = Backoff::default_random();
  tls_.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                   asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                   asio::ssl::context::no_tlsv1_1);
  tls_.set_default_verify_paths();
  if (!options_.ca_file.empty()) tls_.load_verify_file(options_.ca_file);  // throws: startup
  tls_.set_verify_mode(asio::ssl::verify_peer);
  for (auto& target : targets) {
    std::string name = target.name;
    entries_.emplace(std::move(name), make_entry(std::move(target)));
  }
}

ProbeScheduler::~ProbeScheduler() { stop(); }

std::shared_ptr<ProbeScheduler::Entry> ProbeScheduler::make_entry(
    config::Target target, std::shared_ptr<TargetMetrics> metrics) {
  if (!metrics) metrics = std::make_shared<TargetMetrics>(families_, target.name);
  auto harness =
      ProbeHarness::create(io_.get_executor(), target, std::move(metrics), &tls_, options_.random);
  auto entry = std::make_shared<Entry>(io_, std::move(target), std::move(harness));
  entry->on_probe = options_.on_probe;
  return entry;
}

std::chrono::milliseconds ProbeScheduler::first_run_offset(std::string_view name,
                                                           std::chrono::milliseconds interval) {
  std::uint64_t hash = 1469598103934665603ULL;  // FNV-1a
  for (const char c : name) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ULL;
  }
  const auto span = static_cast<std::uint64_t>(std::max<std::int64_t>(interval.count(), 1));
  return std::chrono::milliseconds(static_cast<std::int64_t>(hash % span));
}

void ProbeScheduler::start() {
  if (started_ || stopped_) return;
  started_ = true;
  for (auto& [name, entry] : entries_) {
    const auto offset = options_.spread_first_run ? first_run_offset(name, entry->target.interval)
                                                  : std::chrono::milliseconds(0);
    entry->timer.expires_after(offset);
    begin(entry);
  }
}

// Fixed-rate ticks: each tick starts a probe unless the previous one still runs (then the tick is
// skipped and counted), and the next tick is one interval after this one's deadline.
void ProbeScheduler::begin(const std::shared_ptr<Entry>& entry) {
  entry->timer.async_wait([entry](const boost::system::error_code& ec) {
    if (ec || entry->stopped) return;
    if (entry->running) {
      ++entry->skipped;
      spdlog::debug("probe of {} still running after {}: skipped a run", entry->target.name,
                    config::format_duration(entry->target.interval));
    } else {
      entry->running = true;
      asio::co_spawn(
          entry->timer.get_executor(),
          [entry]() -> asio::awaitable<void> {
            const auto report = co_await entry->harness->run();
            entry->running = false;
            if (report) {
              std::string delays;
              for (const double d : report->retry_delays_seconds) {
                delays += fmt::format("{}{:.3f}", delays.empty() ? "" : " ", d);
              }
              spdlog::debug("probe {}: {} ({}), {} attempts, retry delays [{}] s, {:.3f} s",
                            entry->target.name, to_string(report->result),
                            to_string(report->outcome), report->attempts, delays,
                            report->duration_seconds);
            }
            if (report && entry->on_probe && !entry->stopped) {
              TargetSnapshot snapshot = make_snapshot(*entry->harness);
              snapshot.skipped = entry->skipped;
              entry->on_probe(snapshot);
            }
          },
          [entry](const std::exception_ptr& error) {
            entry->running = false;
            if (!error) return;
            try {
              std::rethrow_exception(error);
            } catch (const std::exception& e) {
              spdlog::error("probe of {} failed unexpectedly: {}", entry->target.name, e.what());
            }
          });
    }
    entry->timer.expires_at(entry->timer.expiry() + entry->target.interval);
    // A clock jump or a long stall: do not fire a burst of missed ticks.
    if (entry->timer.expiry() < asio::steady_timer::clock_type::now()) {
      entry->timer.expires_after(entry->target.interval);
    }
    begin(entry);
  });
}

void ProbeScheduler::stop() {
  if (stopped_) return;
  stopped_ = true;
  for (auto& [name, entry] : entries_) {
    entry->stopped = true;
    entry->timer.cancel();
    entry->harness->stop();
  }
}

void ProbeScheduler::reconfigure(std::vector<config::Target> targets) {
  std::map<std::string, std::shared_ptr<Entry>, std::less<>> next;
  for (auto& target : targets) {
    std::string name = target.name;
    auto it = entries_.find(name);
    if (it != entries_.end()) {
      auto entry = it->second;
      const bool timing_changed = !(entry->target.interval == target.interval);
      entry->harness->reconfigure(target);
      entry->target = target;
      if (timing_changed && started_ && !stopped_) {
        entry->timer.expires_after(options_.spread_first_run
                                       ? first_run_offset(name, target.interval)
                                       : std::chrono::milliseconds(0));
        // Cancelling the pending wait would end the tick chain; a new deadline is enough
        // because expires_after() cancels the wait and begin() re-arms.
        begin(entry);
      }
      next.emplace(std::move(name), std::move(entry));
      entries_.erase(it);
    } else {
      auto entry = make_entry(std::move(target));
      if (started_ && !stopped_) {
        entry->timer.expires_after(options_.spread_first_run
                                       ? first_run_offset(name, entry->target.interval)
                                       : std::chrono::milliseconds(0));
        begin(entry);
      }
      next.emplace(std::move(name), std::move(entry));
    }
  }
  for (auto& [name, entry] : entries_) {  // removed from the config
    entry->stopped = true;
    entry->timer.cancel();
    entry->harness->stop();
    entry->harness->metrics().remove_series();
    spdlog::info("target {} removed: its pool is closed and its series are gone", name);
  }
  entries_ = std::move(next);
}

std::vector<TargetSnapshot> ProbeScheduler::snapshots() const {
  std::vector<TargetSnapshot> out;
  out.reserve(entries_.size());
  for (const auto& [name, entry] : entries_) {
    TargetSnapshot snapshot = make_snapshot(*entry->harness);
    snapshot.running = entry->running;
    snapshot.skipped = entry->skipped;
    out.push_back(std::move(snapshot));
  }
  return out;
}

std::optional<TargetSnapshot> ProbeScheduler::snapshot(std::string_view name) const {
  const auto it = entries_.find(name);
  if (it == entries_.end()) return std::nullopt;
  TargetSnapshot snapshot = make_snapshot(*it->second->harness);
  snapshot.running = it->second->running;
  snapshot.skipped = it->second->skipped;
  return snapshot;
}

TargetSnapshot make_snapshot(const ProbeHarness& harness) {
  const config::Target& target = harness.target();
  TargetSnapshot snapshot;
  snapshot.name = target.name;
  snapshot.url = target.url_text;
  snapshot.kind = std::string(config::to_string(target.url.scheme));
  snapshot.interval_seconds = std::chrono::duration<double>(target.interval).count();
  snapshot.last = harness.last();
  snapshot.counts = harness.shared_metrics()->counts();
  snapshot.pool = harness.pool().view();
  for (const auto& endpoint : harness.pool().resolver().addresses()) {
    snapshot.addresses.push_back(endpoint_text(endpoint));
  }
  return snapshot;
}

}  // namespace connwatch::active
