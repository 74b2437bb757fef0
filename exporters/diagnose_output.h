// One `agent --diagnose` run as Prometheus families, and the two one-shot outputs of SPEC §2:
// `--push-gateway URL` (a Prometheus Pushgateway) and `--textfile FILE.prom` (node_exporter's
// textfile collector).
//
// Families (SPEC §2):
//   connwatch_diagnose_finding{id,severity}          gauge, 1 for each finding the run raised
//   connwatch_diagnose_last_run_timestamp_seconds    gauge, Unix time the run finished
//   connwatch_diagnose_duration_seconds              gauge, how long it measured
// followed by the passive and kernel families of SPEC §4 as measured over the run.
#pragma once

#include <prometheus/metric_family.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace connwatch::exporters {

struct DiagnoseRun {
  // (id, severity) of each finding raised, e.g. ("connection-refused", "warning").
  std::vector<std::pair<std::string, std::string>> findings;
  double finished_unix_seconds = 0;
  double duration_seconds = 0;
  std::vector<prometheus::MetricFamily> measured;  // passive and kernel families of the run
};

// The three connwatch_diagnose_* families, then run.measured.
std::vector<prometheus::MetricFamily> diagnose_families(const DiagnoseRun& run);

// The job and grouping key a diagnose run is pushed under.
inline constexpr const char* kDiagnoseJob = "connwatch_diagnose";

// Writes `families` in the text format to `path` atomically: a temporary file in the same
// directory (so the rename never crosses file systems), flushed to disk, then renamed over
// `path`, so node_exporter never reads half a file. Returns the error text, or nullopt.
std::optional<std::string> write_textfile(const std::string& path,
                                          const std::vector<prometheus::MetricFamily>& families);

// Replaces (HTTP PUT) the group {job="connwatch_diagnose", instance=`instance`} on the
// Pushgateway at `url` ("http://host:9091", https too; a path prefix is kept) with `families`.
// Returns the error text (unparsable URL, connection failure, a non-2xx status), or nullopt.
std::optional<std::string> push_to_gateway(const std::string& url, const std::string& instance,
                                           const std::vector<prometheus::MetricFamily>& families);

// This host's name (gethostname), the grouping key's instance.
std::string host_name();

}  // namespace connwatch::exporters
