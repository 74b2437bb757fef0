// The HTML page at "/": what this agent is, what it probes, and where the metrics are.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace connwatch::exporters {

struct LandingTarget {
  std::string name;
  std::string url;
  std::string interval;
  std::string last_result;  // empty until the target has been probed
};

struct LandingInfo {
  std::string version;
  std::string revision;
  std::string config_path;
  bool config_reload_ok = true;
  std::string capture_status;  // e.g. "up on any", "down: no CAP_NET_RAW"
  std::vector<LandingTarget> targets;
  std::vector<std::string> recent_findings;
};

std::string render_landing_page(const LandingInfo& info);

// Escapes &, <, >, " and ' for HTML text and attribute values.
std::string html_escape(std::string_view text);

}  // namespace connwatch::exporters
