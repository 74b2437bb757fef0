// http-error-status: responses outside the target's expect_status (http_status attempts), with the
// codes seen. The server is reachable and answers, but not with what the target expects.
#include <algorithm>

#include "agent/diagnose/rules.h"
#include "agent/diagnose/rules/common.h"

namespace connwatch::agent::diagnose {

namespace {

std::string codes_text(const std::vector<int>& codes) {
  std::string out;
  for (const int c : codes) out += (out.empty() ? "" : ", ") + std::to_string(c);
  return out;
}

}  // namespace

std::vector<Finding> http_error_status(const Observations& o) {
  std::vector<Finding> out;
  for (const TargetObservation& t : o.targets) {
    const std::uint64_t failed = attempts(t, active::Outcome::kHttpStatus);
    if (failed == 0) continue;
    // Most frequent first, from each probe's last attempt: "503" or "503, 500".
    std::vector<std::pair<int, std::uint64_t>> seen(t.failed_statuses.begin(),
                                                    t.failed_statuses.end());
    std::stable_sort(seen.begin(), seen.end(),
                     [](const auto& a, const auto& b) { return a.second > b.second; });
    std::string codes;
    nlohmann::json statuses = nlohmann::json::object();
    for (const auto& [code, n] : seen) {
      codes += (codes.empty() ? "" : ", ") + std::to_string(code);
      statuses[std::to_string(code)] = n;
    }
    Finding f;
    f.severity = failure_severity(t);
    f.summary = t.config.name + ": " + of_attempts(failed, attempts(t)) + " answered " +
                (codes.empty() ? std::string("a status") : codes) + ", expected " +
                codes_text(t.config.expect_status);
    f.evidence = {{"target", t.config.name},
                  {"destination", t.config.url.authority()},
                  {"http_status", failed},
                  {"attempts", attempts(t)},
                  {"statuses", statuses},  // probes whose last attempt got this code
                  {"expect_status", t.config.expect_status}};
    const bool server_error = !seen.empty() && seen.front().first >= 500;
    f.recommendation =
        server_error
            ? "the server at " + t.config.url.authority() +
                  " answers but fails the request: check its logs and its upstreams (a 502/503/504 "
                  "comes from a proxy whose backend is down or slow)"
            : "the server answers " + std::to_string(seen.empty() ? 0 : seen.front().first) +
                  " for " + t.config.url.path +
                  ": check the path, method and credentials, or add the code to expect_status if "
                  "it is the right answer";
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace connwatch::agent::diagnose
