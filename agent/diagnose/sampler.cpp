#include "agent/diagnose/sampler.h"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "agent/diagnose/time_wait_tracker.h"
#include "probes/kernel/connect_trace.h"
#include "probes/kernel/namespace_naming.h"
#include "probes/kernel/proc_file.h"
#include "probes/kernel/process_fd_usage.h"
#include "probes/kernel/sock_diag_parser.h"
#include "probes/kernel/sock_diag_socket.h"
#include "probes/kernel/socket_owners.h"

namespace connwatch::agent::diagnose {

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kWatchedByTimeWait = 3;
constexpr std::size_t kMaxReported = 10;
constexpr double kFdTrendThreshold = 0.5;
constexpr double kWatchedPortUtilization = 0.5;

std::optional<int> pid_of(const char* name) {
  int pid = 0;
  const char* end = name + std::char_traits<char>::length(name);
  const auto [ptr, ec] = std::from_chars(name, end, pid);
  if (ec != std::errc() || ptr != end || pid <= 0) return std::nullopt;
  return pid;
}

std::string read_link(const std::filesystem::path& path) {
  char target[128];
  const ssize_t n = ::readlink(path.c_str(), target, sizeof target);
  if (n <= 0 || static_cast<std::size_t>(n) >= sizeof target) return {};
  return std::string(target, static_cast<std::size_t>(n));
}

// Live sockets (with an inode) to the watched destinations.
class LiveSockets final : public kernel::SocketVisitor {
 public:
  explicit LiveSockets(const std::set<kernel::Endpoint>& watched,
                       std::unordered_map<std::uint64_t, kernel::Endpoint>& into)
      : watched_(watched), into_(into) {}
  void on_socket(const kernel::SocketRecord& s) override {
    if (s.inode == 0 || watched_.count(s.remote) == 0) return;
    into_.emplace(s.inode, s.remote);
  }

 private:
  const std::set<kernel::Endpoint>& watched_;
  std::unordered_map<std::uint64_t, kernel::Endpoint>& into_;
};

class TimeWaitSockets final : public kernel::SocketVisitor {
 public:
  explicit TimeWaitSockets(TimeWaitTracker& tracker) : tracker_(tracker) {}
  void on_socket(const kernel::SocketRecord& s) override {
    if (s.state == kernel::TcpState::kTimeWait) tracker_.add(s);
  }

 private:
  TimeWaitTracker& tracker_;
};

struct Holder {
  std::string comm;
  std::unordered_set<std::uint64_t> inodes;
  std::uint64_t samples = 0;
};

struct ConnectTally {
  std::uint64_t own = 0;
  std::map<int, SocketHolder> by_pid;
};

struct Caller {
  std::uint64_t netns = 0;  // 0: the process was gone before it could be looked up
  std::string comm;
};

struct Watch {
  std::map<int, Holder> holders;
  std::unordered_set<std::uint64_t> live;
  std::unordered_set<std::uint64_t> own;
  std::uint64_t samples = 0;
};

}  // namespace

struct Sampler::State {
  State(SamplerOptions o, kernel::KernelCollector& c) : options(std::move(o)), collector(c) {}

  SamplerOptions options;
  kernel::KernelCollector& collector;
  std::jthread thread;
  std::mutex mutex;
  std::condition_variable_any wake;

  // Owned by the thread while it runs, read by fill() after stop().
  kernel::SockDiagSocket diag;
  std::vector<std::uint8_t> buffer = std::vector<std::uint8_t>(kernel::kSockDiagBufferSize);
  TimeWaitTracker tracker;
  std::optional<kernel::DestinationPortUsage> peak_port_usage;
  std::map<std::string, DestinationLoss> destination_loss;  // by "netns destination"
  std::map<kernel::Endpoint, Watch> watches;
  std::map<int, FdTrend> fd_trends;
  std::map<int, Clock::time_point> fd_first_seen;
  std::unordered_map<int, bool> same_netns;  // by pid, refreshed each scan
  std::string own_netns;
  std::uint64_t own_netns_inode = 0;
  std::string own_netns_name;
  Clock::time_point started;

  // The connect tracepoint (sampler.h): tallies by (caller's namespace inode, destination).
  kernel::ConnectTracer tracer;
  std::error_code tracer_error;
  std::vector<kernel::ConnectEvent> events;
  std::unordered_map<int, Caller> callers;  // by tgid
  std::map<std::pair<std::uint64_t, kernel::Endpoint>, ConnectTally> connects;
  std::map<std::uint64_t, std::string> netns_names;  // by inode, from the kernel snapshots

  std::string comm_of(int pid) {
    std::string comm;
    if (kernel::read_proc_file(options.proc_root / std::to_string(pid) / "comm", comm, 256)) {
      return {};
    }
    while (!comm.empty() && comm.back() == '\n') comm.pop_back();
    return comm;
  }

  // The process of a task: its tgid column, else /proc/<tid>/status (threads are there too).
  int tgid_of(const kernel::ConnectEvent& e) {
    if (e.tgid > 0) return e.tgid;
    std::string status;
    if (kernel::read_proc_file(options.proc_root / std::to_string(e.tid) / "status", status,
                               1 << 16)) {
      return e.tid;
    }
    std::uint64_t tgid = 0;
    const auto field = kernel::status_field(status, "Tgid");
    if (!field || !kernel::parse_decimal(*field, tgid) || tgid == 0 || tgid > INT32_MAX) {
      return e.tid;
    }
    return static_cast<int>(tgid);
  }

  void drain_connects() {
    if (!tracer.is_open()) return;
    events.clear();
    (void)tracer.read(events);  // a failed read loses nothing: the events stay queued
    for (const auto& e : events) {
      const int tgid = tgid_of(e);
      auto [it, inserted] = callers.try_emplace(tgid);
      Caller& caller = it->second;
      if (inserted) {
        caller.netns = kernel::parse_namespace_link(
                           read_link(options.proc_root / std::to_string(tgid) / "ns/net"))
                           .value_or(0);
        caller.comm = comm_of(tgid);
        if (caller.comm.empty()) caller.comm = e.comm;
      }
      ConnectTally& tally = connects[{caller.netns, e.destination}];
      if (tgid == options.own_pid) {
        ++tally.own;
        continue;
      }
      SocketHolder& h = tally.by_pid[tgid];
      h.pid = tgid;
      h.comm = caller.comm;
      ++h.connects;
    }
  }

  std::error_code dump(std::uint32_t states, kernel::SocketVisitor& visitor) {
    if (!diag.is_open()) {
      if (auto ec = diag.open()) return ec;
    }
    for (const auto family : {kernel::IpFamily::kIpv4, kernel::IpFamily::kIpv6}) {
      if (auto ec = kernel::read_sock_diag(diag, family, states, visitor, buffer)) {
        diag = kernel::SockDiagSocket();  // reopen next time: a failed dump leaves it unusable
        return ec;
      }
    }
    return {};
  }

  void sample_kernel() {
    const kernel::KernelSnapshot snap = collector.collect_once();
    add_destination_loss(destination_loss, snap);
    for (const auto& ns : snap.namespaces) {
      if (ns.inode != 0) netns_names[ns.inode] = ns.name;
      if (ns.self) own_netns_name = ns.name;
    }
    if (snap.sockets && !snap.sockets->ports_in_use.empty()) {
      const auto& top = snap.sockets->ports_in_use.front();
      if (!peak_port_usage || top.utilization > peak_port_usage->utilization) {
        peak_port_usage = top;
      }
    }
    const auto now = Clock::now();
    for (const auto& p : kernel::processes_near_fd_limit(kFdTrendThreshold, options.proc_root)) {
      auto [it, inserted] = fd_trends.try_emplace(p.pid);
      FdTrend& t = it->second;
      if (inserted) {
        t.pid = p.pid;
        t.comm = p.comm;
        t.first_open = p.open;
        fd_first_seen[p.pid] = now;
      }
      t.last_open = p.open;
      t.limit = p.limit;
      t.seconds = std::chrono::duration<double>(now - fd_first_seen[p.pid]).count();
    }
  }

  void sample_time_wait() {
    tracker.begin(Clock::now());
    TimeWaitSockets visitor(tracker);
    const auto ec = dump(kernel::state_mask({kernel::TcpState::kTimeWait}), visitor);
    tracker.end();
    (void)ec;  // a failed dump is one missed sample; the next one reopens
  }

  std::set<kernel::Endpoint> watched() const {
    std::vector<std::pair<std::uint64_t, kernel::Endpoint>> by_entries;
    for (const auto& [destination, c] : tracker.by_destination()) {
      if (c.entries > 0) by_entries.emplace_back(c.entries, destination);
    }
    std::sort(by_entries.begin(), by_entries.end(), std::greater<>());
    std::set<kernel::Endpoint> out;
    for (std::size_t i = 0; i < by_entries.size() && i < kWatchedByTimeWait; ++i) {
      out.insert(by_entries[i].second);
    }
    if (peak_port_usage && peak_port_usage->utilization >= kWatchedPortUtilization) {
      out.insert(peak_port_usage->destination);
    }
    return out;
  }

  // The socket inodes of every process in this network namespace (a socket lives in the
  // namespace it was created in; one passed to a process elsewhere is missed).
  std::vector<kernel::ProcessSockets> scan_processes() {
    std::vector<kernel::ProcessSockets> out;
    DIR* proc = ::opendir(options.proc_root.c_str());
    if (proc == nullptr) return out;
    std::unordered_map<int, bool> seen;
    while (const dirent* entry = ::readdir(proc)) {
      const auto pid = pid_of(entry->d_name);
      if (!pid) continue;
      const auto pid_dir = options.proc_root / entry->d_name;
      bool same = false;
      if (const auto it = same_netns.find(*pid); it != same_netns.end()) {
        same = it->second;
      } else {
        same = !own_netns.empty() && read_link(pid_dir / "ns/net") == own_netns;
      }
      seen[*pid] = same;
      if (!same) continue;
      kernel::ProcessSockets process;
      process.pid = *pid;
      const auto fd_path = pid_dir / "fd";
      DIR* fds = ::opendir(fd_path.c_str());
      if (fds == nullptr) continue;
      while (const dirent* fd = ::readdir(fds)) {
        if (!pid_of(fd->d_name) && std::string_view(fd->d_name) != "0") continue;
        if (auto inode = kernel::parse_socket_link(read_link(fd_path / fd->d_name))) {
          process.inodes.push_back(*inode);
        }
      }
      ::closedir(fds);
      if (!process.inodes.empty()) out.push_back(std::move(process));
    }
    ::closedir(proc);
    same_netns = std::move(seen);
    return out;
  }

  void sample_owners() {
    const std::set<kernel::Endpoint> destinations = watched();
    if (destinations.empty()) return;
    const std::uint32_t live_states =
        kernel::all_states_mask() &
        ~kernel::state_mask({kernel::TcpState::kListen, kernel::TcpState::kTimeWait});
    std::unordered_map<std::uint64_t, kernel::Endpoint> sockets;
    LiveSockets visitor(destinations, sockets);
    if (dump(live_states, visitor)) return;
    const auto processes = scan_processes();
    if (dump(live_states, visitor)) return;
    for (const auto& d : destinations) ++watches[d].samples;
    for (const auto& [inode, destination] : sockets) watches[destination].live.insert(inode);
    for (const auto& process : processes) {
      std::set<kernel::Endpoint> held;
      for (const std::uint64_t inode : process.inodes) {
        const auto it = sockets.find(inode);
        if (it == sockets.end()) continue;
        Watch& w = watches[it->second];
        if (process.pid == options.own_pid) {
          w.own.insert(inode);
          continue;
        }
        Holder& h = w.holders[process.pid];
        if (h.comm.empty()) h.comm = comm_of(process.pid);
        h.inodes.insert(inode);
        held.insert(it->second);
      }
      for (const auto& d : held) ++watches[d].holders[process.pid].samples;
    }
  }

  void run(std::stop_token stop) {
    own_netns = read_link(options.proc_root / "self/ns/net");
    own_netns_inode = kernel::parse_namespace_link(own_netns).value_or(0);
    if (options.connect_trace) {
      tracer_error = kernel::ConnectTracer::open(tracer);
    } else {
      tracer_error = std::make_error_code(std::errc::operation_canceled);
    }
    started = Clock::now();
    auto next_kernel = started;
    while (!stop.stop_requested()) {
      if (Clock::now() >= next_kernel) {
        // Every namespace's tables, on its own clock (kernel_interval): a host with many
        // namespaces makes this slow, and it must not thin out the owner samples below.
        sample_kernel();
        next_kernel = Clock::now() + options.kernel_interval;
      }
      const auto begin = Clock::now();
      drain_connects();
      sample_time_wait();
      sample_owners();
      // On a host with many sockets or descriptors a sample takes long: rest at least three times
      // as long as it took, so the sampler stays under a quarter of a core.
      const auto took = Clock::now() - begin;
      std::unique_lock lock(mutex);
      wake.wait_until(lock, stop, begin + std::max<Clock::duration>(options.interval, 4 * took),
                      [] { return false; });
    }
    drain_connects();
    connect_trace_lost = tracer.is_open() ? tracer.overruns() : 0;
    tracer.close();
  }

  std::uint64_t connect_trace_lost = 0;

  std::string netns_name(std::uint64_t inode) const {
    if (const auto it = netns_names.find(inode); it != netns_names.end()) return it->second;
    if (inode == own_netns_inode && !own_netns_name.empty()) return own_netns_name;
    return inode == 0 ? "unknown" : "netns:" + std::to_string(inode);
  }
};

Sampler::Sampler(SamplerOptions options, kernel::KernelCollector& collector)
    : state_(std::make_unique<State>(std::move(options), collector)) {}

Sampler::~Sampler() { stop(); }

void Sampler::start() {
  if (state_->thread.joinable()) return;
  state_->thread = std::jthread([this](std::stop_token stop) { state_->run(stop); });
}

void Sampler::stop() {
  if (!state_->thread.joinable()) return;
  state_->thread.request_stop();
  state_->wake.notify_all();
  state_->thread.join();
}

void add_destination_loss(std::map<std::string, DestinationLoss>& loss,
                          const kernel::KernelSnapshot& snap) {
  for (const auto& ns : snap.namespaces) {
    if (!ns.sockets) continue;
    for (const auto& q : ns.sockets->quality) {
      const std::string destination = q.destination.to_string();
      DestinationLoss& d = loss[ns.name + " " + destination];
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

void Sampler::fill(Observations& obs) const {
  const State& s = *state_;
  for (const auto& [key, d] : s.destination_loss) {
    DestinationLoss& to = obs.destination_loss[key];
    to.netns = d.netns;
    to.destination = d.destination;
    to.retransmitted += d.retransmitted;
    to.sent += d.sent;
    if (d.rtt_max_seconds > 0 && to.rtt_max_seconds == 0) {  // the run's last sample wins
      to.rtt_mean_seconds = d.rtt_mean_seconds;
      to.rtt_max_seconds = d.rtt_max_seconds;
    }
  }
  if (s.peak_port_usage &&
      (!obs.peak_port_usage || s.peak_port_usage->utilization > obs.peak_port_usage->utilization)) {
    obs.peak_port_usage = s.peak_port_usage;
  }
  obs.time_wait_sampled_seconds = s.tracker.seconds();
  obs.time_wait_samples = s.tracker.samples();
  // The destinations with the most TIME_WAIT entries (a local server's own TIME_WAIT spreads
  // over its clients' ephemeral ports, one entry each), and every watched one.
  std::vector<std::pair<std::uint64_t, kernel::Endpoint>> by_entries;
  for (const auto& [destination, c] : s.tracker.by_destination()) {
    if (c.entries > 0) by_entries.emplace_back(c.entries, destination);
  }
  std::sort(by_entries.begin(), by_entries.end(), std::greater<>());
  std::set<kernel::Endpoint> reported;
  for (std::size_t i = 0; i < by_entries.size() && i < kMaxReported; ++i) {
    reported.insert(by_entries[i].second);
  }
  for (const auto& [destination, w] : s.watches) reported.insert(destination);
  for (const auto& destination : reported) {
    DestinationActivity a;
    a.destination = destination.to_string();
    if (const auto it = s.tracker.by_destination().find(destination);
        it != s.tracker.by_destination().end()) {
      a.time_wait_entries = it->second.entries;
      a.time_wait_early_exits = it->second.early_exits;
      a.time_wait_peak = it->second.peak;
    }
    if (const auto it = s.watches.find(destination); it != s.watches.end()) {
      const Watch& w = it->second;
      a.owner_samples = w.samples;
      a.live_sockets_seen = w.live.size();
      a.own_sockets = w.own.size();
      for (const auto& [pid, h] : w.holders) {
        a.owners.push_back({pid, h.comm, h.inodes.size(), h.samples});
      }
      std::sort(a.owners.begin(), a.owners.end(), [](const auto& x, const auto& y) {
        return x.sockets != y.sockets ? x.sockets > y.sockets : x.pid < y.pid;
      });
    }
    obs.destinations[a.destination] = std::move(a);
  }
  obs.fd_trends = s.fd_trends;

  obs.connect_trace = !s.tracer_error;
  if (s.tracer_error) {
    obs.connect_trace_error =
        s.tracer_error == std::errc::operation_canceled ? "turned off" : s.tracer_error.message();
  }
  obs.connect_trace_lost = s.connect_trace_lost;
  obs.own_netns = s.own_netns_name.empty() ? s.netns_name(s.own_netns_inode) : s.own_netns_name;
  for (const auto& [key, tally] : s.connects) {
    const auto& [inode, destination] = key;
    DestinationConnects c;
    c.netns = s.netns_name(inode);
    c.self = inode != 0 && inode == s.own_netns_inode;
    c.destination = destination.to_string();
    c.own_connects = tally.own;
    for (const auto& [pid, h] : tally.by_pid) {
      c.connects += h.connects;
      c.owners.push_back(h);
    }
    std::sort(c.owners.begin(), c.owners.end(), [](const auto& x, const auto& y) {
      return x.connects != y.connects ? x.connects > y.connects : x.pid < y.pid;
    });
    if (const auto found = obs.destinations.find(c.destination);
        c.self && c.connects > 0 && found != obs.destinations.end()) {
      // A watched destination of the measured namespace: the tracepoint's callers join the
      // sampled holders (rules read the others from obs.connects).
      DestinationActivity& a = found->second;
      for (const auto& h : c.owners) {
        const auto it = std::find_if(a.owners.begin(), a.owners.end(),
                                     [&](const SocketHolder& o) { return o.pid == h.pid; });
        if (it == a.owners.end()) {
          a.owners.push_back(h);
        } else {
          it->connects = h.connects;
        }
      }
      std::sort(a.owners.begin(), a.owners.end(), [](const auto& x, const auto& y) {
        if (x.connects != y.connects) return x.connects > y.connects;
        return x.sockets != y.sockets ? x.sockets > y.sockets : x.pid < y.pid;
      });
    }
    obs.connects[c.netns + " " + c.destination] = std::move(c);
  }
}

}  // namespace connwatch::agent::diagnose
