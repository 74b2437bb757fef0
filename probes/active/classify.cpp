#include "probes/active/classify.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/http/error.hpp>
#include <cerrno>

#include "probes/active/probe_error.h"

namespace connwatch::active {
namespace {

namespace asio_error = boost::asio::error;
namespace http = boost::beast::http;

// OpenSSL 3 reports a peer that closed without close_notify as an SSL error, not as EOF.
bool is_ssl_unexpected_eof(const boost::system::error_code& ec) {
#ifdef SSL_R_UNEXPECTED_EOF_WHILE_READING
  return ec.category() == asio_error::get_ssl_category() &&
         ERR_GET_REASON(static_cast<unsigned long>(ec.value())) ==
             SSL_R_UNEXPECTED_EOF_WHILE_READING;
#else
  (void)ec;
  return false;
#endif
}

bool is_eof_like(const boost::system::error_code& ec) {
  return is_ssl_unexpected_eof(ec) || ec == asio_error::eof || ec == http::error::end_of_stream ||
         ec == http::error::partial_message || ec == boost::asio::ssl::error::stream_truncated ||
         ec == ProbeError::kConnectionClosed;
}

}  // namespace

Outcome classify(const boost::system::error_code& ec, const ErrorContext& context) {
  if (!ec) {
    if (context.status != 0 && !context.status_expected) return Outcome::kHttpStatus;
    if (!context.body_matched) return Outcome::kBodyMismatch;
    return Outcome::kSuccess;
  }
  if (ec.category() == boost::system::system_category() ||
      ec.category() == boost::system::generic_category()) {
    switch (ec.value()) {
      case ECONNREFUSED:
        return Outcome::kRefused;
      case ECONNRESET:
      case EPIPE:
      case ECONNABORTED:
        return Outcome::kReset;
      case EADDRNOTAVAIL:
        return Outcome::kAddrNotAvailable;
      case EMFILE:
      case ENFILE:
        return Outcome::kFdExhausted;
      case ETIMEDOUT:
        return Outcome::kTimeout;
      default:
        break;
    }
  }
  if (context.deadline_expired || ec == ProbeError::kDeadlineExceeded) return Outcome::kTimeout;
  if (ec.category() == asio_error::get_netdb_category() ||
      ec.category() == asio_error::get_addrinfo_category() || ec == ProbeError::kNoAddresses) {
    return Outcome::kDnsError;
  }
  if (is_eof_like(ec))
    return context.phase == Phase::kTls ? Outcome::kTlsError : Outcome::kClosedEarly;
  if (ec.category() == asio_error::get_ssl_category() ||
      ec.category() == boost::asio::ssl::error::get_stream_category()) {
    return Outcome::kTlsError;
  }
  return Outcome::kOther;
}

bool is_stale_connection_error(const boost::system::error_code& ec) {
  return ec == asio_error::connection_reset || ec == asio_error::broken_pipe ||
         ec == asio_error::connection_aborted || is_eof_like(ec);
}

}  // namespace connwatch::active
