#include "agent/diagnose/outputs.h"

#include <prometheus/registry.h>

#include <chrono>

#include "exporters/diagnose_output.h"
#include "probes/kernel/kernel_metrics.h"

namespace connwatch::agent::diagnose {

bool write_outputs(const CliOptions& cli, const Observations& observations,
                   const std::vector<Finding>& findings, std::ostream& err) {
  if (cli.push_gateway.empty() && cli.textfile.empty()) return true;
  exporters::DiagnoseRun run;
  for (const Finding& f : findings) {
    run.findings.emplace_back(std::string(to_string(f.id)), std::string(to_string(f.severity)));
  }
  run.finished_unix_seconds =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  run.duration_seconds = observations.duration_seconds;
  run.measured = observations.passive_families;
  // The kernel families as the run ended (gauges: the tables then; counters: the kernel's).
  prometheus::Registry kernel_registry;
  kernel::KernelMetrics(kernel_registry).update(observations.kernel_end);
  for (auto& family : kernel_registry.Collect()) run.measured.push_back(std::move(family));

  const auto families = exporters::diagnose_families(run);
  bool ok = true;
  if (!cli.textfile.empty()) {
    if (const auto error = exporters::write_textfile(cli.textfile, families)) {
      err << "agent: --textfile: " << *error << "\n";
      ok = false;
    }
  }
  if (!cli.push_gateway.empty()) {
    if (const auto error =
            exporters::push_to_gateway(cli.push_gateway, exporters::host_name(), families)) {
      err << "agent: --push-gateway: " << *error << "\n";
      ok = false;
    }
  }
  return ok;
}

}  // namespace connwatch::agent::diagnose
