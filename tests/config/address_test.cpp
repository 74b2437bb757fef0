#include "config/address.h"

#include <gtest/gtest.h>

namespace connwatch::config {
namespace {

TargetUrl url_ok(const char* text) {
  std::string error;
  auto url = parse_target_url(text, error);
  EXPECT_TRUE(url.has_value()) << text << ": " << error;
  return url.value_or(TargetUrl{});
}

std::string url_error(const char* text) {
  std::string error;
  EXPECT_FALSE(parse_target_url(text, error).has_value()) << text;
  return error;
}

TEST(TargetUrl, HttpDefaultsPortAndPath) {
  const auto u = url_ok("http://api.internal");
  EXPECT_EQ(u.scheme, Scheme::kHttp);
  EXPECT_EQ(u.host, "api.internal");
  EXPECT_EQ(u.port, 80);
  EXPECT_EQ(u.path, "/");
  EXPECT_EQ(url_ok("https://x").port, 443);
}

TEST(TargetUrl, KeepsPathAndQueryDropsFragment) {
  EXPECT_EQ(url_ok("http://h:8080/a/b?c=d#frag").path, "/a/b?c=d");
  EXPECT_EQ(url_ok("http://h?x=1").path, "/?x=1");
}

TEST(TargetUrl, Ipv6LiteralsInBrackets) {
  const auto u = url_ok("http://[fd00::1]:8080/healthz");
  EXPECT_EQ(u.host, "fd00::1");
  EXPECT_EQ(u.port, 8080);
  EXPECT_EQ(u.authority(), "[fd00::1]:8080");
}

TEST(TargetUrl, TcpNeedsAPortAndNoPath) {
  EXPECT_EQ(url_ok("tcp://db:5432").authority(), "db:5432");
  EXPECT_EQ(url_error("tcp://db"), "tcp:// URLs need a port, as in tcp://db.internal:5432");
  EXPECT_EQ(url_error("tcp://db:5432/x"), "tcp:// URLs take no path");
}

TEST(TargetUrl, RejectsWhatCannotBeProbed) {
  EXPECT_EQ(url_error("ftp://x/"), "unsupported scheme \"ftp\" (want http, https or tcp)");
  EXPECT_EQ(url_error("api.internal:80"),
            "\"api.internal:80\" is not a URL (want http://, https:// or tcp://host:port)");
  EXPECT_EQ(url_error("http://:80/"), "missing host");
  EXPECT_EQ(url_error("http://h:0/"), "bad port \"0\" (want 1-65535)");
  EXPECT_EQ(url_error("http://h:http/"), "bad port \"http\" (want 1-65535)");
  EXPECT_EQ(url_error("http://user:pw@h/"), "user information in URLs is not supported");
  EXPECT_EQ(url_error("http://[fd00::1/"), "unclosed '[' in IPv6 address");
  EXPECT_EQ(url_error("http://fd00::1/"), "IPv6 addresses need brackets, as in [::1]:9873");
  EXPECT_EQ(url_error("http://a b/"),
            "control character or space (0x20) in the URL; percent-encode it (a space is %20)");
  EXPECT_EQ(url_error("http://a!b/"), "\"a!b\" is not a valid host name");
}

TEST(TargetUrl, RefusesBytesARequestLineCannotCarry) {
  // CR/LF in the path would end the request line: a smuggled header and a second request.
  EXPECT_EQ(url_error("http://h/x\r\nX-Evil: 1\r\n\r\nGET /admin"),
            "control character or space (0x0d) in the URL; percent-encode it (a space is %20)");
  EXPECT_EQ(url_error("http://h/x?q=\n"),
            "control character or space (0x0a) in the URL; percent-encode it (a space is %20)");
  EXPECT_EQ(url_error("http://h/a b"),
            "control character or space (0x20) in the URL; percent-encode it (a space is %20)");
  std::string nul_error;
  EXPECT_FALSE(parse_target_url(std::string_view("http://h/\0x", 10), nul_error).has_value());
  EXPECT_EQ(nul_error,
            "control character or space (0x00) in the URL; percent-encode it (a space is %20)");
  EXPECT_EQ(url_error("http://h/\x7f"),
            "control character or space (0x7f) in the URL; percent-encode it (a space is %20)");
  EXPECT_EQ(url_error("tcp://h\t:80"),
            "control character or space (0x09) in the URL; percent-encode it (a space is %20)");
  EXPECT_EQ(url_ok("http://h/x%0D%0Ay?a=%20").path, "/x%0D%0Ay?a=%20");  // escaped stays escaped
}

TEST(ListenAddress, AcceptsEveryAddressOrOne) {
  std::string error;
  EXPECT_EQ(parse_listen_address(":9873", error)->to_string(), ":9873");
  EXPECT_EQ(parse_listen_address("127.0.0.1:9100", error)->host, "127.0.0.1");
  EXPECT_EQ(parse_listen_address("[::1]:9100", error)->to_string(), "[::1]:9100");
  EXPECT_EQ(parse_listen_address("localhost:9100", error)->port, 9100);
}

TEST(ListenAddress, RejectsMissingOrBadPorts) {
  std::string error;
  EXPECT_FALSE(parse_listen_address("9873", error));
  EXPECT_EQ(error, "\"9873\" has no port (want [host]:port, as in \":9873\")");
  EXPECT_FALSE(parse_listen_address(":99999", error));
  EXPECT_EQ(error, "bad port \"99999\" (want 1-65535)");
  EXPECT_FALSE(parse_listen_address("::1:80", error));
}

}  // namespace
}  // namespace connwatch::config
