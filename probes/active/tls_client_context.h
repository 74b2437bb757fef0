// A target's own TLS client context (SPEC §3 tls_* keys): its CA bundle instead of the system
// store, its client certificate and key for mTLS, or no verification at all. Targets with default
// TLS settings share the scheduler's context instead.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <string>

#include "config/config.h"

namespace connwatch::active {

// A TLS 1.2+ client context for `tls`. Never throws: a file that cannot be loaded (the loader
// checked it was readable; it may not be PEM) is reported in `error` ("tls_ca_file: ...") and the
// context is returned without it, so the target's handshakes fail as tls_error.
std::shared_ptr<boost::asio::ssl::context> make_tls_client_context(const config::TlsSettings& tls,
                                                                   std::string& error);

}  // namespace connwatch::active
