// Fuzzes net/: IpAddress::parse and Endpoint::parse on any text, and the RFC 5952 writer on any
// 16 bytes. The first byte picks which; the rest is the input. Seeds:
// tests/fuzz/corpus/net_address/.
#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <string_view>

#include "net/endpoint.h"
#include "net/ip_address.h"

namespace {

using namespace connwatch::net;

// Checks that hold for any input; a violation aborts so the fuzzer reports it.
void check(bool ok) {
  if (!ok) std::abort();
}

void fuzz_address_text(std::string_view text) {
  const auto a = IpAddress::parse(text);
  if (!a) return;
  // What parses, writes, and the text parses back to the same address.
  const std::string written = a->to_string();
  check(!written.empty() && written.size() < INET6_ADDRSTRLEN);
  check(IpAddress::parse(written) == a);
}

void fuzz_endpoint_text(std::string_view text) {
  const auto e = Endpoint::parse(text);
  if (!e) return;
  check(e->scope_id == 0);
  check(Endpoint::parse(e->to_string()) == e);
}

void fuzz_address_bytes(const std::uint8_t* data, std::size_t size) {
  std::array<std::uint8_t, 16> bytes{};
  std::memcpy(bytes.data(), data, std::min(size, bytes.size()));
  for (const IpAddress a : {IpAddress::v6(bytes), IpAddress::v6_unmapped(bytes),
                            IpAddress::v4(std::span(bytes).first<4>())}) {
    const std::string written = a.to_string();
    check(written.size() < INET6_ADDRSTRLEN);
    // RFC 5952 §4.2.2/§4.2.3: at most one "::", never ":::".
    const auto first = written.find("::");
    check(first == std::string::npos || written.find("::", first + 1) == std::string::npos);
    check(written.find(":::") == std::string::npos);
    check(IpAddress::parse(written) == a);
    const Endpoint e{a, 443, 0};
    check(Endpoint::parse(e.to_string()) == e);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (data[0] % 3) {
    case 0:
      fuzz_address_text(text);
      break;
    case 1:
      fuzz_endpoint_text(text);
      break;
    case 2:
      fuzz_address_bytes(data + 1, size - 1);
      break;
  }
  return 0;
}
