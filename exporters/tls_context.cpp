#include "exporters/tls_context.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace connwatch::exporters {

namespace asio = boost::asio;

namespace {

// Names a setting in errors as the operator wrote it: the YAML key and file, or the [web] TOML key.
struct Namer {
  const WebConfig& web;
  std::string operator()(std::string_view yaml_key, std::string_view toml_key) const {
    if (web.source.empty()) return fmt::format("web.{}", toml_key);
    return fmt::format("{}: tls_server_config.{}", web.source.string(), yaml_key);
  }
};

std::string openssl_error() {
  const unsigned long code = ::ERR_get_error();
  ::ERR_clear_error();
  if (code == 0) return "unknown OpenSSL error";
  std::array<char, 256> text{};
  ::ERR_error_string_n(code, text.data(), text.size());
  return text.data();
}

// The PEM text of a file or its inline twin.
std::string pem_of(const std::filesystem::path& file, const std::string& inline_pem,
                   const std::string& name) {
  if (file.empty()) return inline_pem;
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    throw WebConfigError(
        fmt::format("{} {}: cannot read: {}", name, file.string(), std::strerror(errno)));
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

int tls_version(TlsVersion version) {
  switch (version) {
    case TlsVersion::kTls10:
      return TLS1_VERSION;
    case TlsVersion::kTls11:
      return TLS1_1_VERSION;
    case TlsVersion::kTls12:
      return TLS1_2_VERSION;
    case TlsVersion::kTls13:
      return TLS1_3_VERSION;
  }
  return TLS1_2_VERSION;
}

// Every SAN of a certificate as Go's x509 spells it: DNS names, e-mail addresses, IP addresses
// (net.IP.String()), URIs.
std::vector<std::string> subject_alt_names(X509* cert) {
  std::vector<std::string> out;
  auto* names =
      static_cast<GENERAL_NAMES*>(::X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (names == nullptr) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    switch (name->type) {
      case GEN_DNS:
      case GEN_EMAIL:
      case GEN_URI: {
        const ASN1_IA5STRING* text = name->d.ia5;
        out.emplace_back(reinterpret_cast<const char*>(::ASN1_STRING_get0_data(text)),
                         static_cast<std::size_t>(::ASN1_STRING_length(text)));
        break;
      }
      case GEN_IPADD: {
        const ASN1_OCTET_STRING* ip = name->d.iPAddress;
        std::array<char, INET6_ADDRSTRLEN> text{};
        const int length = ::ASN1_STRING_length(ip);
        const int family = length == 4 ? AF_INET : length == 16 ? AF_INET6 : 0;
        if (family != 0 &&
            ::inet_ntop(family, ::ASN1_STRING_get0_data(ip), text.data(), text.size()) != nullptr) {
          out.emplace_back(text.data());
        }
        break;
      }
      default:
        break;
    }
  }
  GENERAL_NAMES_free(names);
  return out;
}

// Adds every certificate of a PEM bundle to the context's trust store and to the CA names sent in
// the certificate request. Returns how many there were.
int add_client_cas(SSL_CTX* ctx, const std::string& pem) {
  BIO* bio = ::BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (bio == nullptr) return 0;
  int count = 0;
  X509_STORE* store = ::SSL_CTX_get_cert_store(ctx);
  while (X509* cert = ::PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
    ::X509_STORE_add_cert(store, cert);
    ::SSL_CTX_add_client_CA(ctx, cert);
    ::X509_free(cert);
    ++count;
  }
  ::BIO_free(bio);
  ::ERR_clear_error();  // the read that ended the loop leaves "no start line" behind
  return count;
}

}  // namespace

std::shared_ptr<asio::ssl::context> make_tls_context(const WebConfig& web) {
  const TlsServerConfig& tls = web.tls;
  if (!tls.enabled()) return nullptr;
  const Namer name{web};
  auto context = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  SSL_CTX* ctx = context->native_handle();
  context->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::single_dh_use);
  ::SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
  if (tls.prefer_server_cipher_suites) {
    ::SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
  } else {
    ::SSL_CTX_clear_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
  }
  ::SSL_CTX_set_min_proto_version(ctx, tls_version(tls.min_version));
  ::SSL_CTX_set_max_proto_version(ctx, tls_version(tls.max_version));

  boost::system::error_code ec;
  const std::string cert_name =
      tls.cert_file.empty() ? name("cert", "tls_cert") : name("cert_file", "tls_cert");
  const std::string cert = pem_of(tls.cert_file, tls.cert, cert_name);
  context->use_certificate_chain(asio::buffer(cert), ec);
  if (ec) {
    throw WebConfigError(fmt::format("{} {}: {}", cert_name, tls.cert_file.string(), ec.message()));
  }
  const std::string key_name =
      tls.key_file.empty() ? name("key", "tls_key") : name("key_file", "tls_key");
  const std::string key = pem_of(tls.key_file, tls.key, key_name);
  context->use_private_key(asio::buffer(key), asio::ssl::context::pem, ec);
  if (ec || ::SSL_CTX_check_private_key(ctx) != 1) {
    const std::string why = ec ? ec.message() : openssl_error();
    throw WebConfigError(fmt::format("{} {}: {}", key_name, tls.key_file.string(), why));
  }

  if (!tls.cipher_suites.empty()) {
    std::string list;
    for (const auto& cipher : tls.cipher_suites) list += (list.empty() ? "" : ":") + cipher;
    if (::SSL_CTX_set_cipher_list(ctx, list.c_str()) != 1) {
      throw WebConfigError(
          fmt::format("{}: {}", name("cipher_suites", "tls_cert"), openssl_error()));
    }
  }
  if (!tls.curves.empty()) {
    std::string list;
    for (const auto& curve : tls.curves) list += (list.empty() ? "" : ":") + curve;
    if (::SSL_CTX_set1_groups_list(ctx, list.c_str()) != 1) {
      throw WebConfigError(
          fmt::format("{}: {}", name("curve_preferences", "tls_cert"), openssl_error()));
    }
  }

  if (!tls.client_ca_file.empty() || !tls.client_ca.empty()) {
    const std::string ca_name =
        tls.client_ca_file.empty() ? name("client_ca", "") : name("client_ca_file", "");
    const std::string ca = pem_of(tls.client_ca_file, tls.client_ca, ca_name);
    if (add_client_cas(ctx, ca) == 0) {
      throw WebConfigError(
          fmt::format("{} {}: no PEM certificate in it", ca_name, tls.client_ca_file.string()));
    }
  }

  // Sessions resumed with a client certificate need an id context (OpenSSL refuses otherwise).
  static constexpr std::string_view kSessionContext = "connwatch";
  ::SSL_CTX_set_session_id_context(ctx,
                                   reinterpret_cast<const unsigned char*>(kSessionContext.data()),
                                   static_cast<unsigned int>(kSessionContext.size()));

  asio::ssl::verify_mode mode = asio::ssl::verify_none;
  bool verify_chain = false;
  switch (tls.client_auth) {
    case ClientAuth::kNoClientCert:
      break;
    case ClientAuth::kRequestClientCert:
      mode = asio::ssl::verify_peer;
      break;
    case ClientAuth::kRequireAnyClientCert:
      mode = asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert;
      break;
    case ClientAuth::kVerifyClientCertIfGiven:
      mode = asio::ssl::verify_peer;
      verify_chain = true;
      break;
    case ClientAuth::kRequireAndVerifyClientCert:
      mode = asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert;
      verify_chain = true;
      break;
  }
  context->set_verify_mode(mode);
  if (mode != asio::ssl::verify_none) {
    // Go's RequestClientCert and RequireAnyClientCert take any certificate; the Verify ones want
    // a chain to client_ca. client_allowed_sans is then checked on the client's own certificate.
    context->set_verify_callback([verify_chain, sans = tls.client_allowed_sans](
                                     bool preverified, asio::ssl::verify_context& verify) {
      if (verify_chain && !preverified) return false;
      X509_STORE_CTX* store = verify.native_handle();
      if (sans.empty() || ::X509_STORE_CTX_get_error_depth(store) != 0) return true;
      X509* peer = ::X509_STORE_CTX_get_current_cert(store);
      if (peer == nullptr) return false;
      const auto names = subject_alt_names(peer);
      return std::any_of(names.begin(), names.end(), [&](const std::string& san) {
        return std::find(sans.begin(), sans.end(), san) != sans.end();
      });
    });
  }
  return context;
}

}  // namespace connwatch::exporters
