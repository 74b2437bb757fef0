#include "exporters/basic_auth.h"

#include <crypt.h>

#include <boost/beast/core/detail/base64.hpp>
#include <memory>

namespace connwatch::exporters {

namespace {

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  }
  return diff == 0;
}

std::string decode_base64(std::string_view text) {
  namespace b64 = boost::beast::detail::base64;
  std::size_t padding = 0;
  while (padding < text.size() && padding < 2 && text[text.size() - 1 - padding] == '=') {
    ++padding;
  }
  std::string out(b64::decoded_size(text.size()), '\0');
  const auto [written, read] = b64::decode(out.data(), text.data(), text.size());
  if (read + padding != text.size()) return {};  // stopped early: not base64
  out.resize(written);
  return out;
}

}  // namespace

bool verify_password(std::string_view password, const std::string& hash) {
  if (hash.empty() || hash[0] != '$') return false;  // DES and friends: refuse
  const std::string pw(password);
  auto data = std::make_unique<crypt_data>();
  data->initialized = 0;
  const char* out = ::crypt_r(pw.c_str(), hash.c_str(), data.get());
  if (out == nullptr || out[0] == '*') return false;  // "*0"/"*1": crypt's failure tokens
  return constant_time_equal(out, hash);
}

bool BasicAuth::allows(std::string_view authorization) {
  if (!enabled()) return true;
  constexpr std::string_view kScheme = "Basic ";
  if (authorization.size() <= kScheme.size() ||
      authorization.substr(0, kScheme.size()) != kScheme) {
    return false;
  }
  const std::string credentials = decode_base64(authorization.substr(kScheme.size()));
  const auto colon = credentials.find(':');
  if (colon == std::string::npos) return false;
  const std::string user = credentials.substr(0, colon);
  const auto it = users_.find(user);
  if (it == users_.end()) return false;
  {
    const std::lock_guard lock(mutex_);
    if (const auto v = verified_.find(user);
        v != verified_.end() && constant_time_equal(v->second, authorization)) {
      return true;
    }
  }
  if (!verify_password(std::string_view(credentials).substr(colon + 1), it->second)) return false;
  const std::lock_guard lock(mutex_);
  verified_[user] = std::string(authorization);
  return true;
}

}  // namespace connwatch::exporters
