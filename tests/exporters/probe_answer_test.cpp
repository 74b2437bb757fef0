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

// The values blackbox_exporter 0.23 (Debian 12) printed for the same responses and addresses,
// side by side in the lab (agent.probe_endpoint_lab compares the two exporters live).
TEST(ProbeAnswer, ResponseLengthsLastModifiedAndTheAddressHashAsBlackboxComputesThem) {
  active::ProbeReport r;
  r.success = true;
  r.outcome = Outcome::kSuccess;
  r.http_status = 200;
  r.http_content_length = 29797;
  r.http_body_bytes = 29797;
  r.http_last_modified = 1796584374;
  r.ip_family = 4;
  r.ip_address = net::IpAddress::parse("127.0.0.1");
  std::string text = render_probe_answer(config::ProberKind::kHttp, r);
  for (const char* line :
       {"probe_http_content_length 29797", "probe_http_uncompressed_body_length 29797",
        "probe_http_redirects 0", "probe_http_last_modified_timestamp_seconds 1796584374",
        "probe_ip_addr_hash 3668918509"}) {
    EXPECT_TRUE(has_line(text, line)) << line << "\n" << text;
  }
  // An IPv4-mapped address hashes as its IPv4 address (Go's To4()); IPv6 over its 16 bytes.
  r.ip_address = net::IpAddress::parse("::ffff:127.0.0.1");
  EXPECT_TRUE(
      has_line(render_probe_answer(config::ProberKind::kHttp, r), "probe_ip_addr_hash 3668918509"));
  r.ip_address = net::IpAddress::parse("::1");
  text = render_probe_answer(config::ProberKind::kHttp, r);
  EXPECT_FALSE(has_line(text, "probe_ip_addr_hash 3668918509")) << text;
  EXPECT_NE(text.find("probe_ip_addr_hash "), std::string::npos) << text;
}

TEST(ProbeAnswer, WithoutAResponseOrItsHeadersTheLengthsSayNoneAndOptionalFamiliesAreAbsent) {
  active::ProbeReport r;
  r.http_status = 200;  // a chunked response: no Content-Length, no Last-Modified
  r.http_body_bytes = 12;
  std::string text = render_probe_answer(config::ProberKind::kHttp, r);
  EXPECT_TRUE(has_line(text, "probe_http_content_length -1")) << text;
  EXPECT_TRUE(has_line(text, "probe_http_uncompressed_body_length 12")) << text;
  EXPECT_EQ(text.find("probe_http_last_modified_timestamp_seconds"), std::string::npos) << text;
  EXPECT_EQ(text.find("probe_ip_addr_hash"), std::string::npos) << "nothing was dialled\n" << text;
  r = active::ProbeReport{};
  r.outcome = Outcome::kRefused;
  text = render_probe_answer(config::ProberKind::kHttp, r);
  EXPECT_TRUE(has_line(text, "probe_http_content_length 0")) << "no response\n" << text;
}

TEST(ProbeAnswer, TheDebugPageTellsWhatTheProbeDidThenTheAnswerThenTheModule) {
  config::ProbeModule module;
  module.name = "http_2xx";
  module.valid_status_codes = {200, 204};
  active::ProbeReport r;
  r.outcome = Outcome::kHttpStatus;
  r.http_status = 503;
  r.http_version = 11;
  r.http_body_bytes = 5;
  r.http_content_length = 5;
  r.ip_family = 4;
  r.ip_address = net::IpAddress::parse("192.0.2.7");
  r.peer = "192.0.2.7:8080";
  r.error = "unexpected HTTP status 503";
  r.phase_seconds[active::index_of(Phase::kConnect)] = 0.001;
  const std::string text = render_probe_debug(module, "http://192.0.2.7:8080/", 4.5, r);
  const auto logs = text.find("Logs for the probe:\n");
  const auto metrics = text.find("\n\n\nMetrics that would have been returned:\n");
  const auto config = text.find("\n\n\nModule configuration:\n");
  ASSERT_EQ(logs, 0u) << text;
  ASSERT_NE(metrics, std::string::npos) << text;
  ASSERT_LT(metrics, config) << text;
  for (const char* line :
       {"module \"http_2xx\", target \"http://192.0.2.7:8080/\", deadline 4.500 s",
        "address 192.0.2.7 (IPv4), new connection to 192.0.2.7:8080", "phase connect: 0.001000 s",
        "phase resolve: did not run", "response: HTTP/1.1 503, 5 body bytes (Content-Length 5)",
        "Probe failed", "prober: http", "valid_status_codes: 200 204",
        "timeout: not set (the scrape's timeout minus 0.5 s)", "probe_success 0",
        "probe_failure_info{outcome=\"http_status\"} 1"}) {
    EXPECT_TRUE(has_line(text, line)) << line << "\n" << text;
  }
  EXPECT_NE(text.find("outcome: http_status after 0.000000 s: unexpected HTTP status 503\n"),
            std::string::npos)
      << text;
}

}  // namespace
}  // namespace connwatch::exporters
