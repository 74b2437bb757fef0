#include "probes/active/tls_client_context.h"

namespace connwatch::active {

namespace ssl = boost::asio::ssl;

std::shared_ptr<ssl::context> make_tls_client_context(const config::TlsSettings& tls,
                                                      std::string& error) {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_client);
  context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  boost::system::error_code ec;
  const auto note = [&](const char* key, const boost::system::error_code& failed) {
    if (!error.empty()) error += "; ";
    error += std::string(key) + ": " + failed.message();
  };
  if (tls.ca_file.empty()) {
    context->set_default_verify_paths(ec);
    if (ec) note("system trust store", ec);
  } else if (context->load_verify_file(tls.ca_file, ec); ec) {
    note("tls_ca_file", ec);
  }
  if (!tls.cert_file.empty()) {
    if (context->use_certificate_chain_file(tls.cert_file, ec); ec) note("tls_cert_file", ec);
    if (context->use_private_key_file(tls.key_file, ssl::context::pem, ec); ec) {
      note("tls_key_file", ec);
    }
  }
  context->set_verify_mode(tls.insecure_skip_verify ? ssl::verify_none : ssl::verify_peer);
  return context;
}

}  // namespace connwatch::active
