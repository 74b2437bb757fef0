#include "net/ip_address.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <random>
#include <string>

namespace connwatch::net {
namespace {

std::string text_of(const char* parsed) {
  const auto a = IpAddress::parse(parsed);
  return a ? a->to_string() : "(no parse)";
}

TEST(IpAddress, WritesIpv4AsDottedQuad) {
  EXPECT_EQ(text_of("10.1.2.3"), "10.1.2.3");
  EXPECT_EQ(text_of("0.0.0.0"), "0.0.0.0");
  EXPECT_EQ(text_of("255.255.255.255"), "255.255.255.255");
  EXPECT_EQ(IpAddress().to_string(), "0.0.0.0");
}

// RFC 5952 §4: each case names the rule it shows.
TEST(IpAddress, WritesIpv6AsRfc5952Text) {
  // §4.1 leading zeros suppressed; §4.3 lowercase.
  EXPECT_EQ(text_of("2001:0DB8:0000:0000:0000:0000:0000:0001"), "2001:db8::1");
  // §4.2.1 "::" shortens as much as possible.
  EXPECT_EQ(text_of("2001:db8:0:0:0:0:2:1"), "2001:db8::2:1");
  // §4.2.2 never for a single 16-bit zero field.
  EXPECT_EQ(text_of("2001:db8:0:1:1:1:1:1"), "2001:db8:0:1:1:1:1:1");
  // §4.2.3 the longest run; the first of equally long ones.
  EXPECT_EQ(text_of("2001:0:0:1:0:0:0:1"), "2001:0:0:1::1");
  EXPECT_EQ(text_of("2001:db8:0:0:1:0:0:1"), "2001:db8::1:0:0:1");
  EXPECT_EQ(text_of("::"), "::");
  EXPECT_EQ(text_of("::1"), "::1");
  EXPECT_EQ(text_of("1::"), "1::");
  EXPECT_EQ(text_of("fe80::1:2"), "fe80::1:2");
  EXPECT_EQ(text_of("1:2:3:4:5:6:7:8"), "1:2:3:4:5:6:7:8");
  EXPECT_EQ(text_of("1:0:0:0:0:0:0:0"), "1::");
  EXPECT_EQ(text_of("0:0:1:0:0:0:0:0"), "0:0:1::");
  EXPECT_EQ(text_of("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
}

TEST(IpAddress, WritesIpv4MappedInMixedNotation) {
  // RFC 5952 §5, and what the kernel and passive probes wrote through inet_ntop before.
  EXPECT_EQ(text_of("::ffff:192.0.2.1"), "::ffff:192.0.2.1");
  EXPECT_EQ(text_of("::ffff:c000:201"), "::ffff:192.0.2.1");
  EXPECT_EQ(text_of("::ffff:0.0.0.0"), "::ffff:0.0.0.0");
}

TEST(IpAddress, WritesOtherEmbeddedIpv4InHex) {
  // IPv4-compatible (deprecated, RFC 4291 §2.5.5.1): glibc's inet_ntop wrote "::192.0.2.1";
  // RFC 5952 §5 lists no mixed notation for it.
  EXPECT_EQ(text_of("::192.0.2.1"), "::c000:201");
  EXPECT_EQ(text_of("64:ff9b::192.0.2.1"), "64:ff9b::c000:201");
}

TEST(IpAddress, UnmapsIpv4MappedOnlyThroughV6Unmapped) {
  const std::array<std::uint8_t, 16> mapped = {0, 0, 0,    0,    0,  0, 0, 0,
                                               0, 0, 0xff, 0xff, 10, 0, 0, 7};
  const auto unmapped = IpAddress::v6_unmapped(mapped);
  EXPECT_EQ(unmapped.family(), IpFamily::kIpv4);
  EXPECT_EQ(unmapped.to_string(), "10.0.0.7");
  EXPECT_EQ(unmapped, *IpAddress::parse("10.0.0.7"));
  const auto kept = IpAddress::v6(mapped);
  EXPECT_EQ(kept.family(), IpFamily::kIpv6);
  EXPECT_EQ(kept.to_string(), "::ffff:10.0.0.7");
  EXPECT_EQ(kept, *IpAddress::parse("::ffff:10.0.0.7"));
}

TEST(IpAddress, KeepsOtherIpv6AddressesAsIpv6WhenUnmapping) {
  const std::array<std::uint8_t, 16> loopback = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  const auto a = IpAddress::v6_unmapped(loopback);
  EXPECT_EQ(a.family(), IpFamily::kIpv6);
  EXPECT_EQ(a.to_string(), "::1");
}

TEST(IpAddress, DistinguishesFamiliesWithEqualLeadingBytes) {
  // 0.0.0.0 and :: have the same (zero) bytes; they are different addresses.
  EXPECT_NE(*IpAddress::parse("0.0.0.0"), *IpAddress::parse("::"));
  EXPECT_NE(IpAddress::parse("0.0.0.0")->hash(), IpAddress::parse("::")->hash());
  EXPECT_LT(*IpAddress::parse("255.255.255.255"), *IpAddress::parse("::"));
}

TEST(IpAddress, ParsesOnlyBareAddressText) {
  for (const char* bad : {"", "[::1]", "::1%1", "fe80::1%eth0", " 10.0.0.1", "10.0.0.1 ", "10.0.0",
                          "10.0.0.256", "010.0.0.1x", "1:2:3:4:5:6:7:8:9", "::g", "localhost",
                          "0000:0000:0000:0000:0000:0000:0000:0000:0"}) {
    EXPECT_FALSE(IpAddress::parse(bad)) << bad;
  }
}

// The text is inet_ntop's wherever glibc follows RFC 5952, which is everywhere except the
// IPv4-compatible ::/96 block (first six fields zero, the seventh not): label values are the
// ones the probes wrote before the type was shared.
TEST(IpAddress, WritesWhatInetNtopWroteOutsideTheIpv4CompatibleBlock) {
  std::mt19937_64 random(16);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<int> zero(0, 2);
  for (int n = 0; n < 20000; ++n) {
    std::array<std::uint8_t, 16> bytes{};
    // Zero fields often, so runs of every length and place come up.
    for (std::size_t field = 0; field < 8; ++field) {
      if (zero(random) != 0) {
        bytes[2 * field] = static_cast<std::uint8_t>(byte(random) % 3 == 0 ? 0 : byte(random));
        bytes[2 * field + 1] = static_cast<std::uint8_t>(byte(random));
      }
    }
    if (n % 7 == 0) {  // the mapped prefix
      bytes = {0, 0, 0,    0,    0,         0,         0,         0,
               0, 0, 0xff, 0xff, bytes[12], bytes[13], bytes[14], bytes[15]};
    }
    char expected[INET6_ADDRSTRLEN] = {};
    ASSERT_NE(inet_ntop(AF_INET6, bytes.data(), expected, sizeof(expected)), nullptr);
    const auto address = IpAddress::v6(bytes);
    const bool compatible_block =
        std::all_of(bytes.begin(), bytes.begin() + 12, [](std::uint8_t b) { return b == 0; }) &&
        (bytes[12] != 0 || bytes[13] != 0);
    if (!compatible_block) {
      EXPECT_EQ(address.to_string(), expected);
    }
    const auto reparsed = IpAddress::parse(address.to_string());
    ASSERT_TRUE(reparsed) << address.to_string();
    EXPECT_EQ(*reparsed, address) << address.to_string();
  }
}

}  // namespace
}  // namespace connwatch::net
