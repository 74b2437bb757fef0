#include "agent/diagnose/measure.h"

#include <prometheus/registry.h>
#include <unistd.h>

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
#include <unordered_set>

#include "agent/diagnose/sampler.h"
#include "agent/diagnose/time_wait_counters.h"
#include "probes/active/asio_endpoint.h"
#include "probes/active/probe_scheduler.h"
#include "probes/kernel/kernel_collector.h"
#include "probes/kernel/proc_file.h"
#include "probes/kernel/process_fd_usage.h"
#include "probes/kernel/sock_diag_parser.h"
#include "probes/kernel/sock_diag_socket.h"
#include "probes/kernel/socket_owners.h"
#include "probes/passive/passive_metrics.h"

namespace connwatch::agent::diagnose {

namespace {

using Clock = std::chrono::steady_clock;
namespace asio = boost::asio;

constexpr double kFdThreshold = 0.8;

constexpr std::size_t kErrorsKept = 3;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
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

std::optional<std::uint64_t> read_sysctl(const std::filesystem::path& path) {
  std::string text;
  std::uint64_t value = 0;
  if (kernel::read_proc_file(path, text) ||
      !kernel::parse_decimal(text.substr(0, text.find('\n')), value)) {
    return std::nullopt;
  }
  return value;
}

std::vector<std::string> endpoints_of(const asio::ip::tcp::resolver::results_type& results) {
  std::set<std::string> unique;
  for (const auto& entry : results) {
    unique.insert(active::endpoint_text(entry.endpoint()));
  }
  return {unique.begin(), unique.end()};
}

// What the completed probes' reports said beyond the counts: failed statuses and error texts.
struct ProbeTally {
  std::map<int, std::uint64_t> failed_statuses;
  std::map<active::Outcome, std::vector<std::string>> errors;

  void add(const active::ProbeReport& r) {
    if (r.success) return;
    if (r.outcome == active::Outcome::kHttpStatus && r.http_status != 0) {
      ++failed_statuses[r.http_status];
    }
    auto& seen = errors[r.outcome];
    if (!r.error.empty() && seen.size() < kErrorsKept &&
        std::find(seen.begin(), seen.end(), r.error) == seen.end()) {
      seen.push_back(r.error);
    }
  }
};

// The targets a process would break when it runs out of descriptors: it listens where a target
// points (a local server), or holds connections to a target's address (a client).
class TargetSockets final : public kernel::SocketVisitor {
 public:
  explicit TargetSockets(const std::unordered_set<std::uint64_t>& inodes) : inodes_(inodes) {}
  void on_socket(const kernel::SocketRecord& s) override {
    if (s.inode != 0 && inodes_.count(s.inode) != 0) held.push_back(s);
  }
  std::vector<kernel::SocketRecord> held;

 private:
  const std::unordered_set<std::uint64_t>& inodes_;
};

bool unspecified(const kernel::IpAddress& a) {
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a.data()[i] != 0) return false;
  }
  return true;
}

void find_targets_of(ProcessFds& p, const std::vector<TargetObservation>& targets,
                     const std::filesystem::path& proc_root) {
  std::unordered_set<std::uint64_t> inodes;
  for (const auto& process : kernel::read_process_sockets(proc_root)) {
    if (process.pid == p.pid) inodes.insert(process.inodes.begin(), process.inodes.end());
  }
  if (inodes.empty()) return;
  TargetSockets sockets(inodes);
  if (kernel::read_sock_diag(kernel::all_states_mask(), sockets)) return;
  for (const auto& t : targets) {
    bool serves = false;
    bool client = false;
    for (const auto& address : t.probes.addresses) {
      const auto ep = kernel::Endpoint::parse(address);
      if (!ep) continue;
      for (const auto& s : sockets.held) {
        if (s.state == kernel::TcpState::kListen && s.local.port == ep->port &&
            (s.local.address == ep->address || unspecified(s.local.address))) {
          serves = true;
        }
        if (s.state != kernel::TcpState::kListen && s.remote == *ep) client = true;
      }
    }
    if (serves) p.serves_targets.push_back(t.config.name);
    if (client && !serves) p.client_of_targets.push_back(t.config.name);
  }
}

struct Run {
  explicit Run(const MeasureOptions& o)
      : options(o),
        collector(o.kernel),
        scheduler(io, registry, probe_plan(o.targets, o.duration, o.probe_interval),
                  make_scheduler_options(o, tallies)),
        sampler(make_sampler_options(o), collector),
        tick(io),
        deadline(io) {}

  static active::SchedulerOptions make_scheduler_options(const MeasureOptions& o,
                                                         std::map<std::string, ProbeTally>& t) {
    active::SchedulerOptions s;
    s.spread_first_run = false;
    s.ca_file = o.ca_file;
    // On the io thread, after each probe: only a copy of its report's status and error.
    s.on_probe = [&t](const active::TargetSnapshot& snap) {
      if (snap.last) t[snap.name].add(*snap.last);
    };
    return s;
  }

  static SamplerOptions make_sampler_options(const MeasureOptions& o) {
    SamplerOptions s;
    s.own_pid = static_cast<int>(::getpid());
    s.proc_root = o.kernel.proc_root;
    return s;
  }

  const MeasureOptions& options;
  asio::io_context io;
  prometheus::Registry registry;
  kernel::KernelCollector collector;
  std::map<std::string, ProbeTally> tallies;  // by target name
  active::ProbeScheduler scheduler;
  Sampler sampler;
  asio::steady_timer tick;
  asio::steady_timer deadline;
  prometheus::Registry passive_registry;  // the run's passive families (--push-gateway etc.)
  std::unique_ptr<passive::PassiveMetrics> passive_metrics;
  // After the metrics it feeds: members go in reverse order, and ~LiveCapture() still sets
  // capture_up on them (a use after free when it was declared first).
  std::unique_ptr<passive::LiveCapture> capture;
  Clock::time_point started;
  Observations obs;
  std::vector<std::unique_ptr<DnsWatch>> dns;

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
      for (auto& w : dns) check_dns(*w);
      report_progress();
      arm_tick();
    });
  }

  Observations run() {
    obs.duration_seconds = std::chrono::duration<double>(options.duration).count();
    obs.interface = options.capture.interface;
    obs.capture_enabled = options.capture_enabled;
    obs.own_pid = static_cast<int>(::getpid());
    obs.kernel_start = collector.collect_once();
    obs.time_wait_counters_start = read_time_wait_counters(options.kernel.proc_root);

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
    sampler.start();
    scheduler.start();
    arm_tick();
    deadline.expires_after(options.duration);
    deadline.async_wait([this](const boost::system::error_code&) {
      tick.cancel();
      for (auto& w : dns) w->resolver->cancel();
      io.stop();
    });
    io.run();
    obs.duration_seconds = seconds_since(started);

    // Everything observed, before the pools close and count shutdown closes.
    const auto snapshots = scheduler.snapshots();
    sampler.stop();
    if (capture && capture->up()) {
      obs.captured_time_wait_entries =
          capture->snapshot().time_wait_entries[passive::index_of(passive::TimeWaitSide::kClient)];
    }
    obs.kernel_end = collector.collect_once();  // before the pools' own closes leave TIME_WAIT
    add_destination_loss(obs.destination_loss, obs.kernel_end);
    obs.time_wait_counters_end = read_time_wait_counters(options.kernel.proc_root);
    sampler.fill(obs);
    if (obs.kernel_end.sockets && !obs.kernel_end.sockets->ports_in_use.empty()) {
      const auto& end = obs.kernel_end.sockets->ports_in_use.front();
      if (!obs.peak_port_usage || end.utilization > obs.peak_port_usage->utilization) {
        obs.peak_port_usage = end;
      }
    }
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
    obs.somaxconn = read_sysctl(options.kernel.proc_root / "sys/net/core/somaxconn");
    obs.tcp_tw_reuse = read_sysctl(options.kernel.proc_root / "sys/net/ipv4/tcp_tw_reuse");

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
      if (const auto it = tallies.find(t.name); it != tallies.end()) {
        to.failed_statuses = it->second.failed_statuses;
        to.errors = it->second.errors;
      }
      obs.targets.push_back(std::move(to));
    }
    for (const auto& p : kernel::processes_near_fd_limit(kFdThreshold, options.kernel.proc_root)) {
      ProcessFds fds{p.pid, p.comm, p.open, p.limit, {}, {}};
      find_targets_of(fds, obs.targets, options.kernel.proc_root);
      obs.processes_near_fd_limit.push_back(std::move(fds));
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
