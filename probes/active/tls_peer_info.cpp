#include "probes/active/tls_peer_info.h"

#include <openssl/asn1.h>
#include <openssl/x509.h>

#include <ctime>

namespace connwatch::active {

TlsPeerInfo tls_peer_info(const SSL* ssl) {
  TlsPeerInfo info;
  if (ssl == nullptr) return info;
  switch (SSL_version(ssl)) {
    case TLS1_2_VERSION:
      info.version = "TLS 1.2";
      break;
    case TLS1_3_VERSION:
      info.version = "TLS 1.3";
      break;
    default:
      break;
  }
  // On the client side the chain includes the leaf (SSL_get_peer_cert_chain(3)).
  const STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl);
  if (chain == nullptr) return info;
  for (int i = 0; i < sk_X509_num(chain); ++i) {
    const ASN1_TIME* not_after = X509_get0_notAfter(sk_X509_value(chain, i));
    std::tm tm{};
    if (not_after == nullptr || ASN1_TIME_to_tm(not_after, &tm) != 1) continue;
    const std::int64_t seconds = ::timegm(&tm);
    if (!info.earliest_cert_expiry || seconds < *info.earliest_cert_expiry) {
      info.earliest_cert_expiry = seconds;
    }
  }
  return info;
}

}  // namespace connwatch::active
