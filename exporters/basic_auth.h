// HTTP basic auth against [web] basic_auth_users, as the Prometheus exporter-toolkit does it:
// users map to crypt(3) hashes (bcrypt "$2b$..." from `htpasswd -nBC 10`, or sha256-crypt
// "$5$..." from `openssl passwd -5`); plain-text passwords are never stored.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <string_view>

namespace connwatch::exporters {

// Whether `password` hashes to `hash` (crypt_r with the hash as its own salt); false for a hash
// crypt does not understand. Compares in constant time.
bool verify_password(std::string_view password, const std::string& hash);

class BasicAuth {
 public:
  explicit BasicAuth(std::map<std::string, std::string> users) : users_(std::move(users)) {}

  bool enabled() const { return !users_.empty(); }
  // The value of an Authorization header ("Basic dXNlcjpwYXNz"), empty when absent.
  bool allows(std::string_view authorization);

 private:
  std::map<std::string, std::string> users_;
  // bcrypt costs tens of milliseconds on purpose; a scraper sends the same header every time,
  // so the last header that verified for each user is remembered.
  std::mutex mutex_;
  std::map<std::string, std::string> verified_;
};

}  // namespace connwatch::exporters
