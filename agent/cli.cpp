#include "agent/cli.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <filesystem>
#include <map>
#include <string_view>

#include "config/units.h"

#ifndef CONNWATCH_SOURCE_DIR
#define CONNWATCH_SOURCE_DIR ""
#endif
#ifndef CONNWATCH_BINARY_DIR
#define CONNWATCH_BINARY_DIR ""
#endif

namespace connwatch::agent {

std::string_view to_string(OutputFormat format) {
  switch (format) {
    case OutputFormat::kText:
      return "text";
    case OutputFormat::kJson:
      return "json";
    case OutputFormat::kPrometheus:
      return "prometheus";
  }
  return "text";
}

std::string default_config_path() {
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  const std::string build_dir = CONNWATCH_BINARY_DIR;
  if (!ec && !build_dir.empty() && exe.string().starts_with(build_dir + "/")) {
    return std::string(CONNWATCH_SOURCE_DIR) + "/config/agent.toml";
  }
  return "/etc/connwatch/agent.toml";
}

namespace {

// Edit distance (insert, delete, substitute, swap of neighbours), for flag suggestions.
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      d[i][j] = std::min(
          {d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

// "--duraton" -> "--duration": the closest long flag, if it is close enough to be a typo
// (a third of the name, at least 2 edits; "-" and "." and "_" count as alike, so --config-file
// finds --config.file).
std::optional<std::string> closest_flag(std::string_view unknown, const CLI::App& app) {
  auto normalise = [](std::string_view text) {
    std::string out(text);
    for (char& c : out) {
      if (c == '.' || c == '_') c = '-';
    }
    return out;
  };
  const std::string wanted = normalise(unknown.substr(0, unknown.find('=')));
  std::optional<std::string> best;
  std::size_t best_distance = std::max<std::size_t>(2, wanted.size() / 3) + 1;
  for (const CLI::Option* option : app.get_options()) {
    for (const std::string& name : option->get_lnames()) {
      const std::size_t distance = edit_distance(wanted, normalise("--" + name));
      if (distance < best_distance) {
        best_distance = distance;
        best = "--" + name;
      }
    }
  }
  return best;
}

}  // namespace

std::optional<CliOptions> parse_cli(int argc, const char* const* argv, std::ostream& err) {
  CliOptions options;
  CLI::App app{"connwatch agent: tells you why TCP connections die", "agent"};
  app.set_help_flag();  // --help is handled below so it can print to our stream
  app.allow_extras();   // unknown arguments are reported below, in order, with a suggestion
  app.get_formatter()->column_width(36);
  app.footer(
      "Usage:\n"
      "  agent [--config.file FILE] [--web.listen-address ADDR:PORT] [--web.config.file FILE]\n"
      "        [--log.level LEVEL] [--log.format logfmt|json]\n"
      "        [--probe.config.file BLACKBOX.yml]\n"
      "  agent --diagnose [--config.file FILE] [--target URL]... [--duration SECONDS]\n"
      "                   [--interface IFACE] [--netns NAME] [--format text|json]\n"
      "                   [--push-gateway URL] [--textfile FILE.prom]\n"
      "  agent --replay FILE.pcap [--format text|json|prometheus] [--threads N]\n"
      "  agent --check-config [--config.file FILE]\n"
      "  agent --version | --help\n\n"
      "The v0.1 spellings --config, --listen and --log-level still work.\n"
      "Exit codes: 0 ok, 1 diagnose found a warning or worse, 2 usage or config error,\n"
      "3 runtime failure.");

  bool help = false, version = false, diagnose = false, check_config = false;
  std::string config_path, listen, web_config, probe_config, log_level, log_format, duration,
      format, interface, replay;
  app.add_flag("-h,--help", help, "Print this help and exit");
  app.add_flag("--version", version, "Print the version and exit");
  app.add_option("--config.file,--config", config_path,
                 "Config file (default: " + default_config_path() + ")")
      ->type_name("FILE");
  app.add_option("--web.listen-address,--listen", listen,
                 "Serve /metrics on ADDR:PORT (default :9873)")
      ->type_name("ADDR:PORT");
  app.add_option("--web.config.file", web_config,
                 "exporter-toolkit web config (YAML: TLS, client certificates, basic auth)")
      ->type_name("FILE");
  app.add_option("--probe.config.file", probe_config,
                 "blackbox_exporter modules (YAML) for /probe?target=&module=")
      ->type_name("FILE");
  app.add_option("--log.level,--log-level", log_level, "debug | info | warn | error")
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}))
      ->type_name("LEVEL");
  app.add_option("--log.format", log_format, "logfmt | json (one JSON object per line)")
      ->check(CLI::IsMember({"logfmt", "json"}))
      ->type_name("FORMAT");
  app.add_flag("--diagnose", diagnose, "Measure once, print findings with the fix for each");
  app.add_option("--target", options.targets, "With --diagnose: a URL to probe (repeatable)")
      ->type_name("URL");
  app.add_option("--duration", duration, "With --diagnose: how long to measure (default 10s)")
      ->type_name("SECONDS");
  app.add_option("--interface", interface, "With --diagnose: capture interface (default: config)")
      ->type_name("IFACE");
  std::string netns;
  app.add_option("--netns", netns,
                 "With --diagnose: measure inside this network namespace only (its netns name)")
      ->type_name("NAME");
  app.add_option("--replay", replay, "Read a pcap/pcapng file and report resets and TIME_WAIT")
      ->type_name("FILE.pcap");
  int threads = 0;
  app.add_option("--threads", threads,
                 "With --replay: track flows on N threads (default: one per core)")
      ->check(CLI::Range(1, 256))
      ->type_name("N");
  app.add_option("--format", format, "text | json (diagnose, replay) | prometheus (replay)")
      ->check(CLI::IsMember({"text", "json", "prometheus"}))
      ->type_name("FORMAT");
  app.add_flag("--check-config", check_config, "Validate the config and exit");
  app.add_option("--push-gateway", options.push_gateway,
                 "With --diagnose: push the findings to this Pushgateway")
      ->type_name("URL");
  app.add_option("--textfile", options.textfile,
                 "With --diagnose: write the findings for node_exporter's textfile collector")
      ->type_name("FILE.prom");

  auto usage_error = [&err](const std::string& message) -> std::optional<CliOptions> {
    err << "agent: " << message << "\nRun 'agent --help' for usage.\n";
    return std::nullopt;
  };
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return usage_error(e.what());
  }
  // The first unknown argument, as typed, with the flag it was probably meant to be.
  if (const auto extras = app.remaining(); !extras.empty()) {
    const std::string& first = extras.front();
    if (!first.starts_with("-")) return usage_error("unexpected argument \"" + first + "\"");
    std::string message = "unknown flag " + first.substr(0, first.find('='));
    if (const auto suggestion = closest_flag(first, app)) {
      message += "; did you mean " + *suggestion + "?";
    }
    return usage_error(message);
  }

  if (help) {
    options.mode = Mode::kHelp;
    options.help_text = app.help();
    return options;
  }
  if (version) {
    options.mode = Mode::kVersion;
    return options;
  }
  if (int(diagnose) + int(!replay.empty()) + int(check_config) > 1) {
    return usage_error("--diagnose, --replay and --check-config exclude each other");
  }
  if (diagnose) options.mode = Mode::kDiagnose;
  if (!replay.empty()) {
    options.mode = Mode::kReplay;
    options.replay_file = replay;
  }
  if (check_config) options.mode = Mode::kCheckConfig;

  if (!config_path.empty()) options.config_path = config_path;
  if (!listen.empty()) {
    std::string why;
    auto address = config::parse_listen_address(listen, why);
    if (!address) {
      // Named as typed: --listen (v0.1) or --web.listen-address.
      const bool old_name = std::any_of(argv + 1, argv + argc, [](const char* arg) {
        return std::string_view(arg).starts_with("--listen");
      });
      return usage_error(std::string(old_name ? "--listen" : "--web.listen-address") +
                         ": bad listen address: " + why);
    }
    options.listen = *address;
  }
  if (!web_config.empty()) options.web_config_file = web_config;
  if (!probe_config.empty()) options.probe_config_file = probe_config;
  if (!log_format.empty()) {
    options.log_format =
        log_format == "json" ? config::LogFormat::kJson : config::LogFormat::kLogfmt;
  }
  if (!log_level.empty()) {
    static const std::map<std::string, config::LogLevel> kLevels{
        {"debug", config::LogLevel::kDebug},
        {"info", config::LogLevel::kInfo},
        {"warn", config::LogLevel::kWarn},
        {"error", config::LogLevel::kError}};
    options.log_level = kLevels.at(log_level);
  }

  const bool diagnosing = options.mode == Mode::kDiagnose;
  if (!diagnosing &&
      (!options.targets.empty() || !duration.empty() || !interface.empty() || !netns.empty())) {
    return usage_error("--target, --duration, --interface and --netns go with --diagnose");
  }
  if (!netns.empty()) options.netns = netns;
  if (!diagnosing && (!options.push_gateway.empty() || !options.textfile.empty())) {
    return usage_error("--push-gateway and --textfile go with --diagnose");
  }
  if (!options.push_gateway.empty() && !options.push_gateway.starts_with("http://") &&
      !options.push_gateway.starts_with("https://")) {
    return usage_error("--push-gateway: \"" + options.push_gateway + "\" is not an http(s):// URL");
  }
  if (!duration.empty()) {
    // Plain seconds as SPEC §2 writes it ("--duration 30"), or a duration ("30s", "2m").
    auto parsed = config::parse_duration(duration);
    if (!parsed) parsed = config::parse_duration(duration + "s");
    if (!parsed) {
      return usage_error("--duration: \"" + duration + "\" is not a number of seconds");
    }
    if (parsed->count() <= 0) {
      return usage_error(
          "--duration: a diagnose run needs some time to measure: give 1 or more "
          "seconds (\"10\", \"30s\", \"2m\"), not \"" +
          duration + "\"");
    }
    options.duration = *parsed;
  }
  if (!interface.empty()) options.interface = interface;

  if (threads != 0) {
    if (options.mode != Mode::kReplay) return usage_error("--threads goes with --replay");
    options.replay_threads = static_cast<std::size_t>(threads);
  }

  if (!format.empty()) {
    if (options.mode != Mode::kDiagnose && options.mode != Mode::kReplay) {
      return usage_error("--format goes with --diagnose or --replay");
    }
    if (format == "prometheus" && options.mode != Mode::kReplay) {
      return usage_error("--format prometheus goes with --replay");
    }
    options.format = format == "json"         ? OutputFormat::kJson
                     : format == "prometheus" ? OutputFormat::kPrometheus
                                              : OutputFormat::kText;
  }
  return options;
}

}  // namespace connwatch::agent
