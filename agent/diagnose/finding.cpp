#include "agent/diagnose/finding.h"

#include <algorithm>

namespace connwatch::agent::diagnose {

std::string_view to_string(FindingId id) {
  switch (id) {
    case FindingId::kEphemeralPortExhaustion:
      return "ephemeral-port-exhaustion";
    case FindingId::kFdExhaustion:
      return "fd-exhaustion";
    case FindingId::kConnectionRefused:
      return "connection-refused";
    case FindingId::kPeerResetMidstream:
      return "peer-reset-midstream";
    case FindingId::kMiddleboxResetSuspected:
      return "middlebox-reset-suspected";
    case FindingId::kStalePooledConnection:
      return "stale-pooled-connection";
    case FindingId::kProbeTimeouts:
      return "probe-timeouts";
    case FindingId::kTimeWaitAccumulation:
      return "time-wait-accumulation";
    case FindingId::kDnsAddressChanged:
      return "dns-address-changed";
    case FindingId::kListenOverflow:
      return "listen-overflow";
    case FindingId::kLocalAbortUnreadData:
      return "local-abort-unread-data";
    case FindingId::kDnsResolutionFailed:
      return "dns-resolution-failed";
    case FindingId::kTlsHandshakeFailed:
      return "tls-handshake-failed";
    case FindingId::kHttpErrorStatus:
      return "http-error-status";
    case FindingId::kClosedWithoutResponse:
      return "closed-without-response";
    case FindingId::kPortReuseChurn:
      return "port-reuse-churn";
    case FindingId::kCaptureUnavailable:
      return "capture-unavailable";
    case FindingId::kPacketLoss:
      return "packet-loss";
  }
  return "unknown";
}

std::string_view to_string(Severity severity) {
  switch (severity) {
    case Severity::kInfo:
      return "info";
    case Severity::kWarning:
      return "warning";
    case Severity::kCritical:
      return "critical";
  }
  return "info";
}

nlohmann::json to_json(const Finding& f) {
  return {{"id", to_string(f.id)},
          {"severity", to_string(f.severity)},
          {"summary", f.summary},
          {"evidence", f.evidence.is_null() ? nlohmann::json::object() : f.evidence},
          {"recommendation", f.recommendation}};
}

bool worse(const Finding& a, const Finding& b) {
  if (a.severity != b.severity) return a.severity > b.severity;
  return a.id < b.id;
}

std::vector<Finding> merge(std::vector<Finding> findings) {
  std::stable_sort(findings.begin(), findings.end(), [](const Finding& a, const Finding& b) {
    return a.id != b.id ? a.id < b.id : a.severity > b.severity;
  });
  std::vector<Finding> out;
  for (Finding& f : findings) {
    if (f.evidence.is_null()) f.evidence = nlohmann::json::object();
    if (out.empty() || out.back().id != f.id) {
      out.push_back(std::move(f));
      continue;
    }
    Finding& into = out.back();
    if (!into.evidence.contains("subjects")) {
      nlohmann::json first = into.evidence;
      first["summary"] = into.summary;
      into.evidence["subjects"] = nlohmann::json::array({first});
    }
    nlohmann::json subject = f.evidence;
    subject["summary"] = f.summary;
    for (const auto& [key, value] : f.evidence.items()) {
      if (!into.evidence.contains(key)) into.evidence[key] = value;
    }
    into.evidence["subjects"].push_back(std::move(subject));
    into.more.push_back(f.summary);
    if (into.recommendation.find(f.recommendation) == std::string::npos) {
      into.recommendation += "; " + f.recommendation;
    }
  }
  return out;
}

}  // namespace connwatch::agent::diagnose
