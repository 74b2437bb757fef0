// What a TLS connection's peer presented, for /probe's probe_ssl_earliest_cert_expiry and
// probe_tls_version_info (blackbox_exporter's names). Read from the session after the handshake,
// so a reused pooled connection reports the certificates of the handshake that opened it.
#pragma once

#include <openssl/ssl.h>

#include <cstdint>
#include <optional>
#include <string>

namespace connwatch::active {

struct TlsPeerInfo {
  // The earliest notAfter of every certificate the peer sent (leaf and chain), Unix seconds;
  // none when it sent no certificate.
  std::optional<std::int64_t> earliest_cert_expiry;
  std::string version;  // "TLS 1.2", "TLS 1.3", as Go's crypto/tls names them; empty: unknown
};

// Never fails: what cannot be read stays empty.
TlsPeerInfo tls_peer_info(const SSL* ssl);

}  // namespace connwatch::active
