// The answer to one /probe scrape: blackbox_exporter's family names and values, plus
// probe_failure_info{outcome} on failure and connwatch_probe_connection{connection}.
#include "exporters/probe_answer.h"

#include <gtest/gtest.h>

namespace connwatch::exporters {
namespace {

using active::Outcome;
using active::Phase;

bool has_line(const std::string& text, const std::string& line) {
  return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

TEST(ProbeAnswer, ASuccessfulHttpProbeOnAReusedConnection) {
  active::ProbeReport r;
  r.success = true;
  r.outcome = Outcome::kSuccess;
  r.http_status = 200;
  r.http_version = 11;
  r.duration_seconds = 0.25;
  r.connection_reused = true;
  r.ip_family = 6;
  r.phase_seconds[active::index_of(Phase::kProcessing)] = 0.125;
  const std::string text = render_probe_answer(config::ProberKind::kHttp, r);
  for (const char* line :
       {"probe_success 1", "probe_duration_seconds 0.25", "probe_http_status_code 200",
        "probe_http_version 1.1", "probe_ip_protocol 6", "probe_http_ssl 0",
        "probe_failed_due_to_regex 0", "probe_dns_lookup_time_seconds 0",
        "probe_http_duration_seconds{phase=\"processing\"} 0.125",
        "probe_http_duration_seconds{phase=\"connect\"} 0",
        "connwatch_probe_connection{connection=\"reused\"} 1",
        "connwatch_probe_connection{connection=\"new\"} 0", "# TYPE probe_success gauge"}) {
    EXPECT_TRUE(has_line(text, line)) << line << "\n" << text;
  }
  EXPECT_EQ(text.find("probe_failure_info"), std::string::npos);
  EXPECT_EQ(text.find("probe_ssl_earliest_cert_expiry"), std::string::npos);
}

TEST(ProbeAnswer, AFailedProbeNamesItsOutcome) {
  active::ProbeReport r;
  r.outcome = Outcome::kRefused;
  const std::string text = render_probe_answer(config::ProberKind::kHttp, r);
  EXPECT_TRUE(has_line(text, "probe_success 0")) << text;
  EXPECT_TRUE(has_line(text, "probe_failure_info{outcome=\"refused\"} 1")) << text;
  EXPECT_TRUE(has_line(text, "probe_http_status_code 0")) << text;
  EXPECT_TRUE(has_line(text, "connwatch_probe_connection{connection=\"new\"} 1")) << text;
}

TEST(ProbeAnswer, ABodyMismatchIsAlsoBlackboxsRegexFailure) {
  active::ProbeReport r;
  r.outcome = Outcome::kBodyMismatch;
  r.http_status = 200;
  const std::string text = render_probe_answer(config::ProberKind::kHttp, r);
  EXPECT_TRUE(has_line(text, "probe_failed_due_to_regex 1")) << text;
  EXPECT_TRUE(has_line(text, "probe_failure_info{outcome=\"body_mismatch\"} 1")) << text;
}

TEST(ProbeAnswer, TlsAddsCertificateExpiryAndVersion) {
  active::ProbeReport r;
  r.success = true;
  r.outcome = Outcome::kSuccess;
  r.tls = true;
  r.tls_earliest_cert_expiry = 1893456000;
  r.tls_version = "TLS 1.3";
  const std::string text = render_probe_answer(config::ProberKind::kHttp, r);
  EXPECT_TRUE(has_line(text, "probe_http_ssl 1")) << text;
  EXPECT_TRUE(has_line(text, "probe_ssl_earliest_cert_expiry 1893456000")) << text;
  EXPECT_TRUE(has_line(text, "probe_tls_version_info{version=\"TLS 1.3\"} 1")) << text;
}

TEST(ProbeAnswer, ATcpProbeHasNoHttpFamilies) {
  active::ProbeReport r;
  r.success = true;
  r.outcome = Outcome::kSuccess;
  r.ip_family = 4;
  const std::string text = render_probe_answer(config::ProberKind::kTcp, r);
  EXPECT_TRUE(has_line(text, "probe_success 1")) << text;
  EXPECT_TRUE(has_line(text, "probe_ip_protocol 4")) << text;
  EXPECT_EQ(text.find("probe_http_"), std::string::npos) << text;
}

}  // namespace
}  // namespace connwatch::exporters
