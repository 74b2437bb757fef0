// The one mapping from an attempt's error_code (plus where it happened) to its Outcome (SPEC §4).
// Every failing step of every prober reports through it; nothing else picks an outcome.
#pragma once

#include <boost/system/error_code.hpp>

#include "probes/active/outcome.h"

namespace connwatch::active {

struct ErrorContext {
  Phase phase = Phase::kProcessing;  // the phase the attempt was in when it ended
  bool deadline_expired = false;     // our per-phase deadline fired (the I/O then reports aborted)
  int status = 0;                    // the HTTP status that arrived, 0 = none
  bool status_expected = true;       // that status is one of the target's expect_status
  bool body_matched = true;          // the body matched fail_if_body_not_matches (or no check)
};

// Rules, first match wins:
//   ECONNREFUSED -> refused; ECONNRESET, EPIPE, ECONNABORTED -> reset, whatever the phase (a
//   kernel errno says what happened on the wire better than the phase does);
//   EADDRNOTAVAIL -> addr_not_available (no free ephemeral port for that destination, connect(2));
//   EMFILE, ENFILE -> fd_exhausted (per-process / system-wide limit, socket(2));
//   our deadline, ETIMEDOUT -> timeout; resolver errors (netdb/addrinfo categories, no addresses)
//   -> dns_error; TLS library errors, and EOF during the handshake -> tls_error;
//   EOF or a truncated stream before the response was complete -> closed_early;
//   no error: http_status when the status was not expected, else body_mismatch when the body
//   did not match the target's regex, else success; anything else
//   -> other.
Outcome classify(const boost::system::error_code& ec, const ErrorContext& context);

// True for the errors that mean "the peer closed or reset the connection": on a reused
// connection before any response byte, that is the stale-pooled-connection race (TCP-NOTES §5).
bool is_stale_connection_error(const boost::system::error_code& ec);

}  // namespace connwatch::active
