// An OpenSSL server context from a web configuration's tls_server_config, with the semantics of
// Go's crypto/tls as exporter-toolkit configures it: certificate chain and key, client
// certificates by client_auth_type (NoClientCert, RequestClientCert, RequireAnyClientCert,
// VerifyClientCertIfGiven, RequireAndVerifyClientCert) against client_ca, client_allowed_sans
// checked in the handshake, protocol versions, TLS <= 1.2 cipher suites, curves, the server's
// cipher preference. No renegotiation.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <memory>

#include "exporters/web_config.h"

namespace connwatch::exporters {

// Reads the certificate, key and client CA (files or inline PEM) and builds the context. Throws
// WebConfigError naming the key and file that failed (a missing file, a key that does not match
// the certificate, a CA file with no certificate in it). Null when `web.tls` turns TLS off.
std::shared_ptr<boost::asio::ssl::context> make_tls_context(const WebConfig& web);

}  // namespace connwatch::exporters
