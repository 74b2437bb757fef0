// CaptureFilter: the BPF program that passes only TCP segments with SYN, FIN or RST set, and
// exactly the framings the dissector understands (dissector.h): up to kMaxVlanTags VLAN tags,
// IPv6 behind up to kMaxIpv6ExtensionHeaders extension headers (hop-by-hop, routing, destination
// options, fragment, AH, mobility, HIP, shim6), NFLOG's TLV list, and every link type of
// link_type.h.
//
// The program is assembled here instruction by instruction rather than compiled from a pcap
// expression: pcap-filter(7) has no loops and its `tcp[]` accessors never match IPv6, so a header
// chain of unknown length cannot be written in it. Classic BPF has no loops either, so each chain
// is unrolled to the dissector's bound, with the cursor in the X register.
//
// The cursor is always relative to the end of the fixed link header, and every packet load is
// `[x + link header length + k]` or an absolute load of a link-header field: libpcap rewrites
// exactly those shapes for Linux cooked ("any") sockets, whose kernel filter sees the packet
// from the network header on (pcap-linux.c fix_offset), so the kernel runs this program on live
// captures too. Live VLAN-offloaded traffic has its outer tag stripped before the filter runs;
// the tag walk sees one tag fewer and still ends at the IP header.
#pragma once

#include <pcap/pcap.h>

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "probes/passive/dissector.h"
#include "probes/passive/link_type.h"

namespace connwatch::passive {

// The program for a framing; every jump is forward and within range (bpf_validate holds).
std::vector<bpf_insn> capture_filter_program(LinkType link);

class CaptureFilter {
 public:
  // FIN | SYN | RST: what the program passes.
  static constexpr std::uint8_t kControlFlags = tcp_flags::kFin | tcp_flags::kSyn | tcp_flags::kRst;

  // The program for the handle's data link type; nullopt and `error` when the link type is not
  // one the dissector reads.
  static std::optional<CaptureFilter> compile(pcap_t* handle, std::string& error);
  static std::optional<CaptureFilter> for_link(LinkType link, std::string& error);

  CaptureFilter(CaptureFilter&& other) noexcept;
  CaptureFilter& operator=(CaptureFilter&& other) noexcept;
  CaptureFilter(const CaptureFilter&) = delete;
  CaptureFilter& operator=(const CaptureFilter&) = delete;
  ~CaptureFilter() = default;

  // For pcap_setfilter() (live capture: the kernel runs it; libpcap copies it).
  bpf_program* program() { return &program_; }
  // Runs the program in user space (replay: pcap_offline_filter()).
  bool matches(const pcap_pkthdr& header, const u_char* data) const {
    return pcap_offline_filter(&program_, &header, data) != 0;
  }
  // The same decision from the dissector's reading of the packet, where the two are known to
  // agree: a control segment passes, another segment or a packet the dissector reads as not TCP
  // does not (tests/fuzz/dissector_fuzz.cpp checks both on every input). A truncated or malformed
  // packet's fate depends on which bytes the program happens to load, so for those (rare) the
  // program runs. Replay uses this instead of matches() on every packet: one dissection, no
  // interpreter.
  bool selects(const DissectResult& dissected, std::span<const std::uint8_t> packet,
               std::uint32_t wire_length) const {
    switch (dissected.outcome) {
      case DissectOutcome::kSegment:
        return (dissected.segment.flags & kControlFlags) != 0;
      case DissectOutcome::kNotTcp:
        return false;
      case DissectOutcome::kTruncated:
      case DissectOutcome::kMalformed:
        break;
    }
    pcap_pkthdr header{};
    header.caplen = static_cast<bpf_u_int32>(packet.size());
    header.len = wire_length;
    return matches(header, packet.data());
  }
  std::size_t instructions() const { return instructions_.size(); }

 private:
  explicit CaptureFilter(std::vector<bpf_insn> instructions);
  std::vector<bpf_insn> instructions_;
  bpf_program program_{};
};

}  // namespace connwatch::passive
