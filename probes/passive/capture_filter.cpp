#include "probes/passive/capture_filter.h"

#include <utility>

namespace connwatch::passive {
namespace {

constexpr const char* kControlSegments =
    "(tcp[tcpflags] & (tcp-syn|tcp-fin|tcp-rst) != 0) or "
    "(ip6 and ip6[6] == 6 and (ip6[53] & 0x07) != 0)";

}  // namespace

std::string capture_filter_expression(int dlt) {
  const std::string base = std::string("(") + kControlSegments + ")";
  if (dlt == DLT_EN10MB) {
    // `vlan` shifts every later offset, so the tagged alternatives come last and nest.
    return base + " or (vlan and (" + base + " or (vlan and " + base + ")))";
  }
  return base;
}

std::optional<CaptureFilter> CaptureFilter::compile(pcap_t* handle, std::string& error) {
  CaptureFilter filter;
  const std::string expression = capture_filter_expression(pcap_datalink(handle));
  if (pcap_compile(handle, &filter.program_, expression.c_str(), /*optimize=*/1,
                   PCAP_NETMASK_UNKNOWN) != 0) {
    error = std::string("cannot compile capture filter: ") + pcap_geterr(handle);
    return std::nullopt;
  }
  return filter;
}

CaptureFilter::CaptureFilter(CaptureFilter&& other) noexcept
    : program_(std::exchange(other.program_, bpf_program{})) {}

CaptureFilter& CaptureFilter::operator=(CaptureFilter&& other) noexcept {
  if (this != &other) {
    pcap_freecode(&program_);
    program_ = std::exchange(other.program_, bpf_program{});
  }
  return *this;
}

CaptureFilter::~CaptureFilter() { pcap_freecode(&program_); }

}  // namespace connwatch::passive
