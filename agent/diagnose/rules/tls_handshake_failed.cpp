// tls-handshake-failed: TLS attempts failed (tls_error): a certificate from an unknown CA, a name
// that does not match, an expired certificate, or no protocol version both ends accept.
#include "agent/diagnose/rules.h"
#include "agent/diagnose/rules/common.h"

namespace connwatch::agent::diagnose {

std::vector<Finding> tls_handshake_failed(const Observations& o) {
  std::vector<Finding> out;
  for (const TargetObservation& t : o.targets) {
    const std::uint64_t failed = attempts(t, active::Outcome::kTlsError);
    if (failed == 0) continue;
    const std::string error = errors_text(t, active::Outcome::kTlsError);
    Finding f;
    f.severity = failure_severity(t);
    f.summary = t.config.name + ": " + of_attempts(failed, attempts(t)) +
                " failed the TLS handshake with " + t.config.url.authority() +
                (error.empty() ? "" : " (" + error + ")");
    f.evidence = {{"target", t.config.name},
                  {"destination", t.config.url.authority()},
                  {"tls_error", failed},
                  {"attempts", attempts(t)},
                  {"errors", errors_json(t, active::Outcome::kTlsError)}};
    f.recommendation = "look at the server's certificate (`openssl s_client -connect " +
                       t.config.url.authority() + " -servername " + t.config.url.host +
                       "`): it must chain to a CA this host trusts, name " + t.config.url.host +
                       ", be within its validity dates, and the server must offer TLS 1.2 or later";
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace connwatch::agent::diagnose
