#include "agent/diagnose/diagnose.h"

#include <unistd.h>

#include <cstdio>
#include <exception>

#include "agent/agent.h"
#include "agent/diagnose/measure.h"
#include "agent/diagnose/outputs.h"
#include "agent/diagnose/own_endpoint.h"
#include "agent/diagnose/report.h"
#include "agent/diagnose/rules.h"
#include "agent/logging.h"
#include "agent/probe_options.h"
#include "probes/kernel/network_namespaces.h"

namespace connwatch::agent::diagnose {

namespace {

// --target URLs become targets named by their URL, with [pool] and [retry] from the config.
// Without them, the config's targets, less those that point at the agent's own endpoint.
std::optional<std::vector<config::Target>> targets_for(const CliOptions& cli,
                                                       const config::Config& config,
                                                       std::vector<SkippedTarget>& skipped,
                                                       std::ostream& err) {
  if (cli.targets.empty()) {
    const auto local = local_addresses();
    std::vector<config::Target> targets;
    for (const auto& t : config.targets) {
      if (points_at_agent(t.url, config.agent.listen, local)) {
        skipped.push_back({t.name, t.url_text,
                           "it points at the agent's own endpoint (" +
                               config.agent.listen.to_string() +
                               "), which nothing serves during a diagnose run"});
        continue;
      }
      targets.push_back(t);
    }
    return targets;
  }
  std::vector<config::Target> targets;
  for (const std::string& url : cli.targets) {
    std::string error;
    const auto parsed = config::parse_target_url(url, error);
    if (!parsed) {
      err << "agent: --target \"" << url << "\": " << error << "\n";
      return std::nullopt;
    }
    config::Target t;
    t.name = url;
    t.url = *parsed;
    t.url_text = url;
    t.pool = config.pool;
    t.retry = config.retry;
    targets.push_back(std::move(t));
  }
  return targets;
}

void show_progress(std::ostream& err, const Progress& p) {
  char line[160];
  std::snprintf(
      line, sizeof line, "\r  measuring %4.0f/%.0f s  %llu packets  %llu resets  %llu probes   ",
      p.elapsed_seconds, p.duration_seconds, static_cast<unsigned long long>(p.packets),
      static_cast<unsigned long long>(p.resets), static_cast<unsigned long long>(p.probes));
  err << line << std::flush;
}

// --netns NAME: moves this thread, before any other starts (they inherit it), into the namespace
// of that name, so probes, capture, socket tables and owners are all that namespace's. false
// after writing why to `err` (an unknown name lists the known ones).
bool enter_netns(const std::string& name, std::ostream& err) {
  kernel::NamespaceDirectory directory;
  const auto found = directory.discover(true);
  std::string known;
  for (const auto& ns : found.namespaces) {
    if (ns.name != name) {
      known += (known.empty() ? "" : ", ") + ns.name;
      continue;
    }
    if (ns.self) return true;
    if (const auto ec = kernel::enter_network_namespace(ns)) {
      err << "agent: --netns " << name << ": cannot enter it: " << ec.message()
          << (ec == std::errc::operation_not_permitted ? " (needs CAP_SYS_ADMIN)" : "") << "\n";
      return false;
    }
    return true;
  }
  err << "agent: --netns " << name
      << ": no network namespace of that name; known: " << (known.empty() ? "none readable" : known)
      << (found.hidden_processes > 0 ? " (some processes' namespaces are hidden without "
                                       "CAP_SYS_PTRACE)"
                                     : "")
      << "\n";
  return false;
}

}  // namespace

int run_diagnose(const CliOptions& cli, std::ostream& out, std::ostream& err) {
  setup_logging(cli.log_level.value_or(config::LogLevel::kError));
  const auto config = load_config_for(cli, err);
  if (!config) return kExitUsage;
  if (cli.netns && !enter_netns(*cli.netns, err)) return kExitUsage;
  std::vector<SkippedTarget> skipped;
  const auto targets = targets_for(cli, *config, skipped, err);
  if (!targets) return kExitUsage;

  MeasureOptions options;
  options.duration = cli.duration;
  options.capture_enabled = config->capture.enabled || cli.interface.has_value();
  options.capture = capture_options(config->capture);
  if (cli.interface) options.capture.interface = *cli.interface;
  options.tracker = tracker_options(config->capture);
  options.kernel = kernel_options(config->sockets);
  // Every namespace by default: a pod's churner is the case the tool exists for (issue 16);
  // --netns: that one only.
  options.kernel.all_namespaces = !cli.netns.has_value();
  options.targets = *targets;
  const bool tty = ::isatty(STDERR_FILENO) == 1;
  if (tty) options.progress = [&err](const Progress& p) { show_progress(err, p); };

  Observations observations;
  try {
    observations = measure(options);
  } catch (const std::exception& e) {
    err << "agent: diagnose failed: " << e.what() << "\n";
    return kExitRuntime;
  }
  if (tty) err << "\r" << std::string(72, ' ') << "\r" << std::flush;
  observations.skipped_targets = std::move(skipped);

  const std::vector<Finding> findings = evaluate(observations);
  if (cli.format == OutputFormat::kJson) {
    out << to_json(observations, findings).dump(2) << "\n";
  } else {
    write_text(out, observations, findings);
  }
  out.flush();
  if (!write_outputs(cli, observations, findings, err)) return kExitRuntime;

  // Nothing at all could be observed: no capture, no socket tables, no targets.
  if (!observations.capture_up && !observations.kernel_end.sockets &&
      observations.targets.empty() && observations.skipped_targets.empty()) {
    err << "agent: diagnose could observe nothing (no capture, no socket tables, no targets)\n";
    return kExitRuntime;
  }
  for (const Finding& f : findings) {
    if (f.severity != Severity::kInfo) return kExitFindings;
  }
  return kExitOk;
}

}  // namespace connwatch::agent::diagnose
