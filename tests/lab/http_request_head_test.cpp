#include "tests/lab/http_request_head.h"

#include <gtest/gtest.h>

#include <string>

namespace connwatch::lab {
namespace {

TEST(HttpRequestHead, WaitsForTheBlankLine) {
  EXPECT_EQ(parse_http_request_head("GET / HTTP/1.1\r\nHost: a\r\n").status,
            HeadStatus::kIncomplete);
  EXPECT_EQ(parse_http_request_head("").status, HeadStatus::kIncomplete);
}

TEST(HttpRequestHead, Http11KeepsAliveUnlessTheClientSaysClose) {
  const std::string request = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
  const HttpRequestHead plain = parse_http_request_head(request + "GET / HTTP/1.1");  // pipelined
  EXPECT_EQ(plain.status, HeadStatus::kComplete);
  EXPECT_TRUE(plain.keep_alive);
  EXPECT_EQ(plain.head_bytes, request.size());
  EXPECT_FALSE(
      parse_http_request_head("GET / HTTP/1.1\r\nconnection: Upgrade, CLOSE\r\n\r\n").keep_alive);
}

TEST(HttpRequestHead, Http10ClosesUnlessTheClientAsksForKeepAlive) {
  EXPECT_FALSE(parse_http_request_head("GET / HTTP/1.0\r\n\r\n").keep_alive);
  EXPECT_TRUE(
      parse_http_request_head("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive);
}

TEST(HttpRequestHead, ReportsTheBodyLengthSoTheServerSkipsIt) {
  const std::string request = "POST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello";
  const HttpRequestHead head = parse_http_request_head(request);
  EXPECT_EQ(head.status, HeadStatus::kComplete);
  EXPECT_EQ(head.body_bytes, 5u);
  EXPECT_EQ(head.head_bytes + head.body_bytes, request.size());
}

TEST(HttpRequestHead, RejectsWhatTheLabServerCannotFrame) {
  for (const char* bad : {
           "GARBAGE\r\n\r\n",                                        // no target/version
           "GET / HTTP/2\r\n\r\n",                                   // not HTTP/1.x
           "GET / HTTP/1.1\r\nno colon\r\n\r\n",                     // header without ':'
           "GET / HTTP/1.1\r\n: empty name\r\n\r\n",                 // empty name
           "GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",           // not a number
           "GET / HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n",  // absurd body
           "GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",   // unsupported
       }) {
    EXPECT_EQ(parse_http_request_head(bad).status, HeadStatus::kMalformed) << bad;
  }
}

TEST(HttpRequestHead, RejectsAHeadThatNeverEnds) {
  const std::string endless = "GET / HTTP/1.1\r\nX: " + std::string(kMaxHeadBytes, 'a');
  EXPECT_EQ(parse_http_request_head(endless).status, HeadStatus::kMalformed);
}

TEST(HttpRequestHead, StatusNamesAreStable) {
  EXPECT_EQ(to_string(HeadStatus::kIncomplete), "incomplete");
  EXPECT_EQ(to_string(HeadStatus::kComplete), "complete");
  EXPECT_EQ(to_string(HeadStatus::kMalformed), "malformed");
}

}  // namespace
}  // namespace connwatch::lab
