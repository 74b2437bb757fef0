#include "agent/diagnose/measure.h"

#include <prometheus/registry.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <thread>

#include "probes/active/probe_scheduler.h"
#include "probes/kernel/kernel_collector.h"
#include "probes/kernel/proc_file.h"
#include "probes/kernel/process_fd_usage.h"
#include "probes/kernel/socket_owners.h"
#include "probes/passive/passive_metrics.h"

namespace connwatch::agent::diagnose {

namespace {

using Clock = std::chrono::steady_clock;
namespace asio = boost::asio;

// How often the owners of the busiest TIME_WAIT destination's live sockets are sampled: a client
// that opens a connection per request holds each one briefly.
constexpr auto kOwnerSampleInterval = std::chrono::milliseconds(200);
constexpr double kFdThreshold = 0.8;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

void merge_owners(kernel::DestinationOwners& into, const kernel::DestinationOwners& sample) {
  into.destination = sample.destination;
  into.live_sockets = std::max(into.live_sockets, sample.live_sockets);
  into.time_wait_sockets = std::max(into.time_wait_sockets, sample.time_wait_sockets);
  into.unattributed_sockets = std::max(into.unattributed_sockets, sample.unattributed_sockets);
  for (const auto& owner : sample.owners) {
    auto it = std::find_if(into.owners.begin(), into.owners.end(),
                           [&](const auto& o) { return o.pid == owner.pid; });
    if (it == into.owners.end()) {
      into.owners.push_back(owner);
    } else {
      it->sockets = std::max(it->sockets, owner.sockets);
    }
  }
  std::sort(into.owners.begin(), into.owners.end(), [](const auto& a, const auto& b) {
    return a.sockets > b.sockets || (a.sockets == b.sockets && a.pid < b.pid);
  });
}

// Watches one target's name: resolves it every tick and compares with where the pool's
// connections are.
struct DnsWatch {
  std::string target;
  std::string host;
  std::uint16_t port = 0;
  std::unique_ptr<asio::ip::tcp::resolver> resolver;
  std::optional<std::vector<std::string>> first;
  std::vector<std::string> current;
  std::optional<Clock::time_point> changed_at;
  std::optional<StaleAddress> stale;
  bool resolving = false;
};

std::vector<std::string> endpoints_of(const asio::ip::tcp::resolver::results_type& results) {
  std::set<std::string> unique;
  for (const auto& entry : results) {
    const auto ep = entry.endpoint();
    const auto address = ep.address();
    unique.insert(address.is_v6() ? "[" + address.to_string() + "]:" + std::to_string(ep.port())
                                  : address.to_string() + ":" + std::to_string(ep.port()));
  }
  return {unique.begin(), unique.end()};
}

struct Run {
  explicit Run(const MeasureOptions& o)
      : options(o),
        collector(o.kernel),
        scheduler(io, registry, probe_plan(o.targets, o.duration, o.probe_interval),
                  make_scheduler_options(o)),
        tick(io),
        owner_tick(io),
        deadline(io) {}

  static active::SchedulerOptions make_scheduler_options(const MeasureOptions& o) {
    active::SchedulerOptions s;
    s.spread_first_run = false;
    s.ca_file = o.ca_file;
    return s;
  }

  const MeasureOptions& options;
  asio::io_context io;
  prometheus::Registry registry;
  kernel::KernelCollector collector;
  active::ProbeScheduler scheduler;
  asio::steady_timer tick;
  asio::steady_timer owner_tick;
  asio::steady_timer deadline;
  std::unique_ptr<passive::LiveCapture> capture;
  prometheus::Registry passive_registry;  // the run's passive families (--push-gateway etc.)
  std::unique_ptr<passive::PassiveMetrics> passive_metrics;
  Clock::time_point started;
  Observations obs;
  std::optional<kernel::Endpoint> busiest_time_wait;
  std::vector<std::unique_ptr<DnsWatch>> dns;

  void sample_kernel() {
    const kernel::KernelSnapshot snap = collector.collect_once();
    add_destination_loss(snap);
    if (!snap.sockets) return;
    if (!snap.sockets->ports_in_use.empty()) {
      const auto& top = snap.sockets->ports_in_use.front();
      if (!obs.peak_port_usage || top.utilization > obs.peak_port_usage->utilization) {
        obs.peak_port_usage = top;
      }
    }
    if (!snap.sockets->time_wait.empty()) {
      busiest_time_wait = snap.sockets->time_wait.front().destination;
    }
  }

  void add_destination_loss(const kernel::KernelSnapshot& snap) {
    for (const auto& ns : snap.namespaces) {
      if (!ns.sockets) continue;
      for (const auto& q : ns.sockets->quality) {
        const std::string destination = q.destination.to_string();
        auto& d = obs.destination_loss[ns.name + " " + destination];
        d.netns = ns.name;
        d.destination = destination;
        d.retransmitted += q.retransmitted;
        d.sent += q.sent;
        if (q.rtt_sockets > 0) {
          d.rtt_mean_seconds = q.rtt_mean_seconds;
          d.rtt_max_seconds = q.rtt_max_seconds;
        }
      }
    }
  }

  void sample_owners() {
    if (!busiest_time_wait) return;
    kernel::DestinationOwners sample;
    if (kernel::find_socket_owners(*busiest_time_wait, sample, options.kernel.proc_root)) return;
    merge_owners(obs.owners[busiest_time_wait->to_string()], sample);
  }

  void check_dns(DnsWatch& w) {
    if (w.resolving) return;
    w.resolving = true;
    w.resolver->async_resolve(
        w.host, std::to_string(w.port),
        [this, &w](const boost::system::error_code& ec,
                   const asio::ip::tcp::resolver::results_type& results) {
          w.resolving = false;
          if (ec) return;
          w.current = endpoints_of(results);
          if (!w.first) {
            w.first = w.current;
            return;
          }
          if (w.current == *w.first) return;
          if (!w.changed_at) w.changed_at = Clock::now();
          const auto snap = scheduler.snapshot(w.target);
          if (!snap) return;
          int on_old = 0;
          for (const auto& c : snap->pool.open) {
            if (std::find(w.current.begin(), w.current.end(), c.peer) == w.current.end()) ++on_old;
          }
          if (on_old == 0) return;
          StaleAddress s;
          s.before = *w.first;
          s.after = w.current;
          s.connections = on_old;
          s.seconds = std::chrono::duration<double>(Clock::now() - *w.changed_at).count();
          w.stale = s;
        });
  }

  void report_progress() {
    if (!options.progress) return;
    Progress p;
    p.elapsed_seconds = std::min(seconds_since(started), obs.duration_seconds);
    p.duration_seconds = std::chrono::duration<double>(options.duration).count();
    if (capture) {
      const auto snap = capture->snapshot();
      p.packets = snap.packets;
      p.resets = snap.resets_total();
    }
    for (const auto& t : scheduler.snapshots()) p.probes += t.counts.probes;
    options.progress(p);
  }

  void arm_tick() {
    tick.expires_after(std::chrono::seconds(1));
    tick.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      sample_kernel();
      for (auto& w : dns) check_dns(*w);
      report_progress();
      arm_tick();
    });
  }

  void arm_owner_tick() {
    owner_tick.expires_after(kOwnerSampleInterval);
    owner_tick.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      sample_owners();
      arm_owner_tick();
    });
  }

  Observations run() {
    obs.duration_seconds = std::chrono::duration<double>(options.duration).count();
    obs.interface = options.capture.interface;
    obs.capture_enabled = options.capture_enabled;
    obs.kernel_start = collector.collect_once();
    sample_kernel();

    if (options.capture_enabled) {
      passive_metrics =
          std::make_unique<passive::PassiveMetrics>(passive_registry, options.tracker);
      capture = std::make_unique<passive::LiveCapture>(options.capture, options.tracker,
                                                       passive_metrics.get());
      capture->start();
    }
    for (const auto& t : options.targets) {
      boost::system::error_code ec;
      asio::ip::make_address(t.url.host, ec);
      if (!ec) continue;  // an IP literal: nothing to re-resolve
      auto w = std::make_unique<DnsWatch>();
      w->target = t.name;
      w->host = t.url.host;
      w->port = t.url.port;
      w->resolver = std::make_unique<asio::ip::tcp::resolver>(io);
      dns.push_back(std::move(w));
    }
    for (auto& w : dns) check_dns(*w);

    started = Clock::now();
    scheduler.start();
    arm_tick();
    arm_owner_tick();
    deadline.expires_after(options.duration);
    deadline.async_wait([this](const boost::system::error_code&) {
      tick.cancel();
      owner_tick.cancel();
      for (auto& w : dns) w->resolver->cancel();
      io.stop();
    });
    io.run();
    obs.duration_seconds = seconds_since(started);

    // Everything observed, before the pools close and count shutdown closes.
    const auto snapshots = scheduler.snapshots();
    obs.kernel_end = collector.collect_once();  // before the pools' own closes leave TIME_WAIT
    scheduler.stop();
    io.restart();
    io.run_for(std::chrono::seconds(1));  // let the cancelled probes unwind
    if (capture) {
      // The ring hands a block over at most one pcap timeout after its last packet: wait for the
      // one holding the run's final segments.
      std::this_thread::sleep_for(options.capture.timeout + std::chrono::milliseconds(150));
      obs.passive = capture->snapshot();
      obs.capture_up = capture->up() || obs.passive.packets > 0;
      obs.capture_error = capture->last_error();
      obs.passive_families = passive_registry.Collect();  // before stop() sets capture_up 0
      capture->stop();
    }
    obs.passive.capture_up = obs.capture_up;
    for (const auto& p : kernel::processes_near_fd_limit(kFdThreshold, options.kernel.proc_root)) {
      obs.processes_near_fd_limit.push_back({p.pid, p.comm, p.open, p.limit});
    }
    std::string somaxconn;
    std::uint64_t value = 0;
    if (!kernel::read_proc_file(options.kernel.proc_root / "sys/net/core/somaxconn", somaxconn) &&
        kernel::parse_decimal(somaxconn.substr(0, somaxconn.find('\n')), value)) {
      obs.somaxconn = value;
    }

    for (const auto& t : options.targets) {
      TargetObservation to;
      to.config = t;
      for (const auto& s : snapshots) {
        if (s.name == t.name) {
          to.probes = s;
          to.server_keep_alive = s.pool.server_keep_alive;
        }
        if (s.name == keep_alive_name(t.name)) {
          to.keep_alive_counts = s.counts;
          to.peer_idle_close_seconds = s.counts.peer_idle_close_seconds;
          if (!to.server_keep_alive) to.server_keep_alive = s.pool.server_keep_alive;
          for (const auto& c : s.pool.open) {
            if (c.idle_seconds) to.idle_watched_seconds = c.idle_seconds;
          }
        }
      }
      for (const auto& w : dns) {
        if (w->target == t.name) to.stale_address = w->stale;
      }
      obs.targets.push_back(std::move(to));
    }
    return obs;
  }
};

}  // namespace

std::string keep_alive_name(const std::string& target) { return target + " keep-alive"; }

std::vector<config::Target> probe_plan(const std::vector<config::Target>& targets,
                                       std::chrono::milliseconds duration,
                                       std::chrono::milliseconds probe_interval) {
  std::vector<config::Target> plan;
  for (const auto& t : targets) {
    config::Target regular = t;
    regular.interval = probe_interval;
    plan.push_back(regular);
  }
  for (const auto& t : targets) {
    if (t.url.scheme == config::Scheme::kTcp) continue;
    config::Target idle = t;
    idle.name = keep_alive_name(t.name);
    idle.interval = duration + std::chrono::hours(1);  // one request, then idle to the end
    idle.pool.max_connections = 1;
    idle.pool.idle_timeout = duration + std::chrono::minutes(1);
    idle.pool.max_lifetime = std::chrono::milliseconds(0);
    idle.retry.max_attempts = 1;
    plan.push_back(idle);
  }
  return plan;
}

Observations measure(const MeasureOptions& options) {
  Run run(options);
  return run.run();
}

}  // namespace connwatch::agent::diagnose
