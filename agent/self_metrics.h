// The agent's metrics about itself (SPEC §4, Self): build info, whether the last config reload
// worked and when one last did, and the standard process_* families every Prometheus client
// exports, read from /proc/self at each scrape.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/gauge.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <vector>

namespace connwatch::agent {

// One reading of a process, as client_golang's process collector reports it.
struct ProcessStats {
  double cpu_seconds = 0;  // user + system CPU time
  double resident_memory_bytes = 0;
  double virtual_memory_bytes = 0;
  double start_time_seconds = 0;  // Unix time
  double open_fds = 0;
  double max_fds = 0;  // soft RLIMIT_NOFILE (/proc/PID/limits "Max open files")
};

// Reads /proc/PID (`proc` = "/proc/self" or another process's directory). nullopt when a file
// is missing or unparsable (the process is gone); never throws.
std::optional<ProcessStats> read_process_stats(const std::filesystem::path& proc);

// process_cpu_seconds_total, process_resident_memory_bytes, process_virtual_memory_bytes,
// process_open_fds, process_max_fds, process_start_time_seconds of /proc/self, read at Collect().
// A failed read yields no families (the scrape goes on).
class ProcessCollector final : public prometheus::Collectable {
 public:
  explicit ProcessCollector(std::filesystem::path proc = "/proc/self") : proc_(std::move(proc)) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  std::filesystem::path proc_;
};

class SelfMetrics {
 public:
  explicit SelfMetrics(prometheus::Registry& registry);

  // After a load or reload: 1 and the time on success, 0 on failure (the old config runs on).
  void config_loaded(bool ok);

  // The process_* families, to serve beside the registry.
  std::shared_ptr<prometheus::Collectable> process_collector() const { return process_; }

 private:
  prometheus::Gauge& reload_successful_;
  prometheus::Gauge& reload_success_time_;
  std::shared_ptr<ProcessCollector> process_ = std::make_shared<ProcessCollector>();
};

}  // namespace connwatch::agent
