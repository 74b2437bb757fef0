#include "exporters/landing_page.h"

#include <fmt/format.h>

namespace connwatch::exporters {

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string render_landing_page(const LandingInfo& info) {
  std::string targets;
  if (info.targets.empty()) {
    targets = "<p>No targets configured: passive capture and kernel socket tables only.</p>";
  } else {
    targets =
        "<table><thead><tr><th>target</th><th>url</th><th>interval</th><th>last result</th></tr>"
        "</thead><tbody>";
    for (const auto& t : info.targets) {
      targets += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                             html_escape(t.name), html_escape(t.url), html_escape(t.interval),
                             t.last_result.empty() ? "not probed yet" : html_escape(t.last_result));
    }
    targets += "</tbody></table>";
  }
  std::string findings;
  for (const auto& f : info.recent_findings) findings += "<li>" + html_escape(f) + "</li>";
  if (findings.empty()) findings = "<li>none</li>";

  return fmt::format(R"(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>connwatch</title>
<style>
body {{ font-family: sans-serif; margin: 2em; max-width: 60em; }}
table {{ border-collapse: collapse; }}
th, td {{ border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; }}
code {{ background: #f4f4f4; padding: 0 0.2em; }}
</style>
</head>
<body>
<h1>connwatch</h1>
<p>Tells you why TCP connections die: resets, TIME_WAIT, socket exhaustion and retry outcomes.</p>
<p>version {} (revision {})</p>
<ul>
<li><a href="/metrics">Metrics</a></li>
<li><a href="/-/healthy">Health</a></li>
</ul>
<h2>Status</h2>
<ul>
<li>config: <code>{}</code>{}</li>
<li>capture: {}</li>
</ul>
<h2>Targets</h2>
{}
<h2>Recent findings</h2>
<ul>{}</ul>
<p>For a one-shot diagnosis on this host run <code>agent --diagnose</code>.</p>
</body>
</html>
)",
                     html_escape(info.version), html_escape(info.revision),
                     html_escape(info.config_path.empty() ? "built-in defaults" : info.config_path),
                     info.config_reload_ok ? "" : " &mdash; <strong>last reload failed</strong>",
                     html_escape(info.capture_status.empty() ? "not running" : info.capture_status),
                     targets, findings);
}

}  // namespace connwatch::exporters
