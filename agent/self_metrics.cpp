#include "agent/self_metrics.h"

#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <limits>
#include <sstream>
#include <string>

#include "connwatch/version.h"

namespace connwatch::agent {

namespace {

std::optional<std::string> read_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The system boot time (Unix seconds), "btime" in /proc/stat; starttime counts ticks from it.
std::optional<double> boot_time(const std::filesystem::path& proc) {
  const auto stat = read_text(proc.parent_path() / "stat");
  if (!stat) return std::nullopt;
  std::istringstream lines(*stat);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.starts_with("btime ")) return std::stod(line.substr(6));
  }
  return std::nullopt;
}

// "Max open files  1024  524288  files": the soft limit, as client_golang reads it.
std::optional<double> max_open_files(const std::filesystem::path& proc) {
  const auto limits = read_text(proc / "limits");
  if (!limits) return std::nullopt;
  std::istringstream lines(*limits);
  std::string line;
  while (std::getline(lines, line)) {
    if (!line.starts_with("Max open files")) continue;
    std::istringstream fields(line.substr(14));
    std::string soft;
    fields >> soft;
    if (soft == "unlimited") return std::numeric_limits<double>::infinity();
    return std::stod(soft);
  }
  return std::nullopt;
}

prometheus::MetricFamily family(const char* name, const char* help, prometheus::MetricType type,
                                double value) {
  prometheus::ClientMetric metric;
  if (type == prometheus::MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  return {name, help, type, {metric}};
}

}  // namespace

std::optional<ProcessStats> read_process_stats(const std::filesystem::path& proc) {
  try {
    // /proc/PID/stat: "pid (comm) state ppid ..."; comm may hold spaces and parentheses, so
    // fields are counted from the last ')'. After it: field 3 (state) onwards (proc(5)).
    const auto stat = read_text(proc / "stat");
    if (!stat) return std::nullopt;
    const std::size_t close = stat->rfind(')');
    if (close == std::string::npos) return std::nullopt;
    std::istringstream fields(stat->substr(close + 1));
    std::vector<std::string> f{"", "", ""};  // f[1], f[2] unused: fields are 1-based from pid
    for (std::string field; fields >> field;) f.push_back(field);
    if (f.size() <= 24) return std::nullopt;
    const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
    const double page = static_cast<double>(::sysconf(_SC_PAGESIZE));
    const auto boot = boot_time(proc);
    const auto max_fds = max_open_files(proc);
    if (!boot || !max_fds) return std::nullopt;

    ProcessStats stats;
    stats.cpu_seconds = (std::stod(f[14]) + std::stod(f[15])) / ticks;  // utime + stime
    stats.start_time_seconds = *boot + std::stod(f[22]) / ticks;        // starttime
    stats.virtual_memory_bytes = std::stod(f[23]);                      // vsize, bytes
    stats.resident_memory_bytes = std::stod(f[24]) * page;              // rss, pages
    stats.max_fds = *max_fds;
    std::error_code ec;
    double open = 0;
    for (std::filesystem::directory_iterator it(proc / "fd", ec), end; !ec && it != end;
         it.increment(ec)) {
      ++open;
    }
    if (ec) return std::nullopt;
    stats.open_fds = open;
    return stats;
  } catch (const std::exception&) {  // std::stod on a field that is not a number
    return std::nullopt;
  }
}

std::vector<prometheus::MetricFamily> ProcessCollector::Collect() const {
  const auto stats = read_process_stats(proc_);
  if (!stats) return {};
  using prometheus::MetricType;
  return {
      family("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
             MetricType::Counter, stats->cpu_seconds),
      family("process_open_fds", "Number of open file descriptors.", MetricType::Gauge,
             stats->open_fds),
      family("process_max_fds", "Maximum number of open file descriptors.", MetricType::Gauge,
             stats->max_fds),
      family("process_virtual_memory_bytes", "Virtual memory size in bytes.", MetricType::Gauge,
             stats->virtual_memory_bytes),
      family("process_resident_memory_bytes", "Resident memory size in bytes.", MetricType::Gauge,
             stats->resident_memory_bytes),
      family("process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
             MetricType::Gauge, stats->start_time_seconds),
  };
}

SelfMetrics::SelfMetrics(prometheus::Registry& registry)
    : reload_successful_(prometheus::BuildGauge()
                             .Name("connwatch_config_last_reload_successful")
                             .Help("Whether the last configuration load or reload succeeded (1) or "
                                   "failed and the previous configuration is still running (0).")
                             .Register(registry)
                             .Add({})),
      reload_success_time_(prometheus::BuildGauge()
                               .Name("connwatch_config_last_reload_success_timestamp_seconds")
                               .Help("Unix time of the last successful configuration load.")
                               .Register(registry)
                               .Add({})) {
  prometheus::BuildGauge()
      .Name("connwatch_build_info")
      .Help(
          "A metric with a constant '1' value labeled by the version and git revision of "
          "connwatch.")
      .Register(registry)
      .Add({{"version", kVersion}, {"revision", kRevision}})
      .Set(1);
}

void SelfMetrics::config_loaded(bool ok) {
  reload_successful_.Set(ok ? 1 : 0);
  if (ok) reload_success_time_.SetToCurrentTime();
}

}  // namespace connwatch::agent
