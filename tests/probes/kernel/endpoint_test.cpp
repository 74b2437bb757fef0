#include "probes/kernel/endpoint.h"

#include <gtest/gtest.h>

namespace connwatch::kernel {
namespace {

TEST(Endpoint, WritesIpv4AsAddressColonPort) {
  EXPECT_EQ((Endpoint{*IpAddress::parse("10.1.2.3"), 443}).to_string(), "10.1.2.3:443");
}

TEST(Endpoint, WritesIpv6InBrackets) {
  EXPECT_EQ((Endpoint{*IpAddress::parse("2001:db8::1"), 8080}).to_string(), "[2001:db8::1]:8080");
}

TEST(Endpoint, ParsesWhatItWrites) {
  for (const char* text : {"127.0.0.1:80", "[::1]:8443", "[2001:db8::5]:65535", "0.0.0.0:0"}) {
    const auto e = Endpoint::parse(text);
    ASSERT_TRUE(e) << text;
    EXPECT_EQ(e->to_string(), text);
  }
}

TEST(Endpoint, RejectsUnbracketedIpv6AndBadPorts) {
  EXPECT_FALSE(Endpoint::parse("::1:80"));
  EXPECT_FALSE(Endpoint::parse("[10.0.0.1]:80"));
  EXPECT_FALSE(Endpoint::parse("10.0.0.1:65536"));
  EXPECT_FALSE(Endpoint::parse("10.0.0.1:"));
  EXPECT_FALSE(Endpoint::parse("10.0.0.1:8x"));
  EXPECT_FALSE(Endpoint::parse("host:80"));
  EXPECT_FALSE(Endpoint::parse(""));
}

TEST(IpAddress, TurnsIpv4MappedIpv6IntoIpv4) {
  const std::array<std::uint8_t, 16> mapped = {0, 0, 0,    0,    0,  0, 0, 0,
                                               0, 0, 0xff, 0xff, 10, 0, 0, 7};
  const auto a = IpAddress::v6_normalized(mapped);
  EXPECT_EQ(a.family(), IpFamily::kIpv4);
  EXPECT_EQ(a.to_string(), "10.0.0.7");
  EXPECT_EQ(a, *IpAddress::parse("10.0.0.7"));
}

TEST(IpAddress, KeepsOtherIpv6AddressesAsIpv6) {
  const std::array<std::uint8_t, 16> loopback = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  const auto a = IpAddress::v6_normalized(loopback);
  EXPECT_EQ(a.family(), IpFamily::kIpv6);
  EXPECT_EQ(a.to_string(), "::1");
}

TEST(IpAddress, DistinguishesFamiliesWithEqualLeadingBytes) {
  // 0.0.0.0 and :: have the same (zero) bytes; they are different addresses.
  EXPECT_NE(*IpAddress::parse("0.0.0.0"), *IpAddress::parse("::"));
  EXPECT_NE(IpAddress::parse("0.0.0.0")->hash(), IpAddress::parse("::")->hash());
}

}  // namespace
}  // namespace connwatch::kernel
