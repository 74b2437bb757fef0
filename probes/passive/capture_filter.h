// CaptureFilter: the kernel BPF program that passes only TCP segments with SYN, FIN or RST set.
//
// tcp[] accessors never match IPv6 (pcap-filter(7)), so IPv6 is tested by hand: next header 6
// right after the fixed header, flags byte at 40 + 13 (TCP-NOTES §4; extension headers are not
// followed). On Ethernet the same test is repeated behind one and two VLAN tags, because a
// capture file keeps the tags inline (live Linux captures see them stripped into metadata, and
// libpcap's `vlan` handles both).
#pragma once

#include <pcap/pcap.h>

#include <optional>
#include <string>

namespace connwatch::passive {

// The filter expression for a pcap data link type.
std::string capture_filter_expression(int dlt);

class CaptureFilter {
 public:
  // Compiles the expression for the handle's data link type; on failure nullopt and `error`.
  static std::optional<CaptureFilter> compile(pcap_t* handle, std::string& error);

  CaptureFilter(CaptureFilter&& other) noexcept;
  CaptureFilter& operator=(CaptureFilter&& other) noexcept;
  CaptureFilter(const CaptureFilter&) = delete;
  CaptureFilter& operator=(const CaptureFilter&) = delete;
  ~CaptureFilter();

  // For pcap_setfilter() (live capture: the kernel runs it).
  bpf_program* program() { return &program_; }
  // Runs the program in user space (replay: pcap_offline_filter()).
  bool matches(const pcap_pkthdr& header, const u_char* data) const {
    return pcap_offline_filter(&program_, &header, data) != 0;
  }

 private:
  CaptureFilter() = default;
  bpf_program program_{};
};

}  // namespace connwatch::passive
