#include "net/endpoint.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>

namespace connwatch::net {
namespace {

TEST(Endpoint, WritesIpv4AsAddressColonPort) {
  EXPECT_EQ((Endpoint{*IpAddress::parse("10.1.2.3"), 443}).to_string(), "10.1.2.3:443");
  EXPECT_EQ((Endpoint{*IpAddress::parse("0.0.0.0"), 0}).to_string(), "0.0.0.0:0");
}

TEST(Endpoint, WritesIpv6InBracketsInRfc5952Text) {
  EXPECT_EQ((Endpoint{*IpAddress::parse("2001:db8::1"), 8080}).to_string(), "[2001:db8::1]:8080");
  EXPECT_EQ((Endpoint{*IpAddress::parse("2001:DB8:0:0:0:0:0:1"), 65535}).to_string(),
            "[2001:db8::1]:65535");
  EXPECT_EQ((Endpoint{*IpAddress::parse("::"), 80}).to_string(), "[::]:80");
}

TEST(Endpoint, WritesIpv4MappedAsBracketedIpv6) {
  EXPECT_EQ((Endpoint{*IpAddress::parse("::ffff:192.0.2.1"), 80}).to_string(),
            "[::ffff:192.0.2.1]:80");
}

TEST(Endpoint, WritesTheScopeIdInsideTheBrackets) {
  EXPECT_EQ((Endpoint{*IpAddress::parse("fe80::1"), 443, 2}).to_string(), "[fe80::1%2]:443");
  EXPECT_EQ((Endpoint{*IpAddress::parse("fe80::1"), 443, 0}).to_string(), "[fe80::1]:443");
}

TEST(Endpoint, ParsesWhatItWrites) {
  for (const char* text : {"127.0.0.1:80", "[::1]:8443", "[2001:db8::5]:65535", "0.0.0.0:0",
                           "[::ffff:10.0.0.1]:443"}) {
    const auto e = Endpoint::parse(text);
    ASSERT_TRUE(e) << text;
    EXPECT_EQ(e->to_string(), text);
  }
}

TEST(Endpoint, KeepsTheFamilyItParsed) {
  const auto mapped = Endpoint::parse("[::ffff:10.0.0.1]:443");
  ASSERT_TRUE(mapped);
  EXPECT_TRUE(mapped->address.is_v6());
  EXPECT_NE(*mapped, *Endpoint::parse("10.0.0.1:443"));
}

TEST(Endpoint, RejectsUnbracketedIpv6BracketedIpv4ZonesAndBadPorts) {
  for (const char* bad : {"::1:80", "[10.0.0.1]:80", "10.0.0.1:65536", "10.0.0.1:", "10.0.0.1:8x",
                          "10.0.0.1:-1", "host:80", "", ":80", "[::1]", "[::1:80", "::1]:80",
                          "[fe80::1%2]:80", "10.0.0.1", "10.0.0.1:80 ", "[[::1]]:80"}) {
    EXPECT_FALSE(Endpoint::parse(bad)) << bad;
  }
}

}  // namespace
}  // namespace connwatch::net
