// classify(): every error an attempt can end with maps to exactly one SPEC §4 outcome.
#include "probes/active/classify.h"

#include <gtest/gtest.h>

#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/http/error.hpp>
#include <cerrno>
#include <set>

namespace connwatch::active {
namespace {

namespace asio = boost::asio;
using boost::system::error_code;

error_code errno_code(int value) { return {value, boost::system::system_category()}; }

Outcome in_phase(const error_code& ec, Phase phase) {
  ErrorContext context;
  context.phase = phase;
  return classify(ec, context);
}

TEST(Classify, KernelErrnosDecideTheOutcomeWhateverThePhase) {
  for (const Phase phase : kAllPhases) {
    SCOPED_TRACE(std::string(to_string(phase)));
    EXPECT_EQ(in_phase(errno_code(ECONNREFUSED), phase), Outcome::kRefused);
    EXPECT_EQ(in_phase(errno_code(ECONNRESET), phase), Outcome::kReset);
    EXPECT_EQ(in_phase(errno_code(EPIPE), phase), Outcome::kReset);
    EXPECT_EQ(in_phase(errno_code(ECONNABORTED), phase), Outcome::kReset);
    EXPECT_EQ(in_phase(errno_code(EADDRNOTAVAIL), phase), Outcome::kAddrNotAvailable);
    EXPECT_EQ(in_phase(errno_code(EMFILE), phase), Outcome::kFdExhausted);
    EXPECT_EQ(in_phase(errno_code(ENFILE), phase), Outcome::kFdExhausted);
    EXPECT_EQ(in_phase(errno_code(ETIMEDOUT), phase), Outcome::kTimeout);
  }
}

TEST(Classify, OurDeadlineIsATimeoutEvenThoughTheIoReportsAborted) {
  ErrorContext context;
  context.phase = Phase::kConnect;
  context.deadline_expired = true;
  EXPECT_EQ(classify(asio::error::operation_aborted, context), Outcome::kTimeout);
}

TEST(Classify, ResolverFailuresAreDnsErrors) {
  EXPECT_EQ(in_phase(asio::error::host_not_found, Phase::kResolve), Outcome::kDnsError);
  EXPECT_EQ(in_phase(asio::error::host_not_found_try_again, Phase::kResolve), Outcome::kDnsError);
}

TEST(Classify, EndOfStreamBeforeACompleteResponseIsClosedEarly) {
  EXPECT_EQ(in_phase(asio::error::eof, Phase::kProcessing), Outcome::kClosedEarly);
  EXPECT_EQ(in_phase(boost::beast::http::error::end_of_stream, Phase::kTransfer),
            Outcome::kClosedEarly);
  EXPECT_EQ(in_phase(boost::beast::http::error::partial_message, Phase::kTransfer),
            Outcome::kClosedEarly);
}

TEST(Classify, TlsFailuresAreTlsErrors) {
  EXPECT_EQ(in_phase(asio::ssl::error::stream_truncated, Phase::kTls), Outcome::kTlsError);
  EXPECT_EQ(in_phase(asio::error::eof, Phase::kTls), Outcome::kTlsError);
}

TEST(Classify, AStatusDecidesSuccessOnlyWhenNothingFailed) {
  ErrorContext ok;
  ok.status = 200;
  EXPECT_EQ(classify({}, ok), Outcome::kSuccess);
  ErrorContext unexpected;
  unexpected.status = 503;
  unexpected.status_expected = false;
  EXPECT_EQ(classify({}, unexpected), Outcome::kHttpStatus);
}

TEST(Classify, ABodyMismatchCountsOnlyWhenTheStatusWasExpected) {
  ErrorContext mismatch;
  mismatch.status = 200;
  mismatch.body_matched = false;
  EXPECT_EQ(classify({}, mismatch), Outcome::kBodyMismatch);
  mismatch.status = 503;
  mismatch.status_expected = false;
  EXPECT_EQ(classify({}, mismatch), Outcome::kHttpStatus);
  EXPECT_EQ(classify(asio::error::eof, mismatch), Outcome::kClosedEarly);
}

TEST(Classify, AnythingElseIsOther) {
  EXPECT_EQ(in_phase(errno_code(EACCES), Phase::kConnect), Outcome::kOther);
}

TEST(Classify, StaleConnectionErrorsAreThePeerClosingOrResetting) {
  EXPECT_TRUE(is_stale_connection_error(asio::error::eof));
  EXPECT_TRUE(is_stale_connection_error(errno_code(ECONNRESET)));
  EXPECT_TRUE(is_stale_connection_error(errno_code(EPIPE)));
  EXPECT_FALSE(is_stale_connection_error(errno_code(ECONNREFUSED)));
  EXPECT_FALSE(is_stale_connection_error(asio::error::operation_aborted));
}

TEST(Outcome, LabelValuesAreTheSpecsAndDistinct) {
  std::set<std::string_view> seen;
  for (const Outcome outcome : kAllOutcomes) seen.insert(to_string(outcome));
  EXPECT_EQ(seen,
            (std::set<std::string_view>{"success", "reset", "refused", "timeout", "dns_error",
                                        "addr_not_available", "fd_exhausted", "tls_error",
                                        "http_status", "body_mismatch", "closed_early", "other"}));
}

}  // namespace
}  // namespace connwatch::active
