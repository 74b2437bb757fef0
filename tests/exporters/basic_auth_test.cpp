// Basic auth against crypt(3) hashes: bcrypt and sha256-crypt verify, anything else is refused,
// and a malformed Authorization header never lets a request through.
#include "exporters/basic_auth.h"

#include <gtest/gtest.h>

namespace connwatch::exporters {
namespace {

// python3 -c 'import crypt; print(crypt.crypt("s3cret", crypt.mksalt(crypt.METHOD_BLOWFISH,
// rounds=1024)))'
constexpr const char* kBcrypt = "$2b$10$g7Rg6TcS4wma1Nvd878wmu6vx4xHkFpIhrCXCni0yC2pCgEeQtj8G";
// openssl passwd -5 -salt connwatchsalt s3cret
constexpr const char* kSha256 = "$5$connwatchsalt$II6OmsN6zb36FMD9oRDnSxKuPUQ/p2kqi5OOONcVLZ0";
// base64("prometheus:s3cret")
constexpr const char* kGood = "Basic cHJvbWV0aGV1czpzM2NyZXQ=";

TEST(BasicAuth, VerifiesBcryptAndSha256CryptHashes) {
  EXPECT_TRUE(verify_password("s3cret", kBcrypt));
  EXPECT_FALSE(verify_password("s3cret ", kBcrypt));
  EXPECT_TRUE(verify_password("s3cret", kSha256));
  EXPECT_FALSE(verify_password("secret", kSha256));
}

TEST(BasicAuth, RefusesHashesThatAreNotModernCrypt) {
  EXPECT_FALSE(verify_password("s3cret", ""));
  EXPECT_FALSE(verify_password("s3cret", "s3cret"));         // a plain-text "hash"
  EXPECT_FALSE(verify_password("s3cret", "abJnggxhB/yWI"));  // DES
  EXPECT_FALSE(verify_password("s3cret", "$9$nonsense"));
}

TEST(BasicAuth, AllowsOnlyTheRightUserAndPassword) {
  BasicAuth auth(std::map<std::string, std::string>{{"prometheus", kBcrypt}});
  EXPECT_TRUE(auth.enabled());
  EXPECT_TRUE(auth.allows(kGood));
  EXPECT_TRUE(auth.allows(kGood));  // the remembered header
  EXPECT_FALSE(auth.allows(""));
  EXPECT_FALSE(auth.allows("Basic"));
  EXPECT_FALSE(auth.allows("Bearer cHJvbWV0aGV1czpzM2NyZXQ="));
  EXPECT_FALSE(auth.allows("Basic cHJvbWV0aGV1czp3cm9uZw=="));  // prometheus:wrong
  EXPECT_FALSE(auth.allows("Basic b3RoZXI6czNjcmV0"));          // other:s3cret
  EXPECT_FALSE(auth.allows("Basic cHJvbWV0aGV1cw=="));          // no colon
  EXPECT_FALSE(auth.allows("Basic !!!not-base64!!!"));
}

TEST(BasicAuth, WithoutUsersEverythingIsAllowed) {
  BasicAuth auth(std::map<std::string, std::string>{});
  EXPECT_FALSE(auth.enabled());
  EXPECT_TRUE(auth.allows(""));
}

}  // namespace
}  // namespace connwatch::exporters
