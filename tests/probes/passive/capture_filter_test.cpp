#include "probes/passive/capture_filter.h"

#include <gtest/gtest.h>
#include <pcap/pcap.h>

#include <memory>
#include <vector>

#include "tests/probes/passive/packet_builder.h"

namespace connwatch::passive {
namespace {

using testing::frame;
using testing::PacketSpec;

struct PcapCloser {
  void operator()(pcap_t* handle) const { pcap_close(handle); }
};

constexpr std::array kLinks = {LinkType::kEthernet, LinkType::kLinuxSll, LinkType::kLinuxSll2,
                               LinkType::kNull,     LinkType::kLoop,     LinkType::kRaw,
                               LinkType::kIpv4,     LinkType::kIpv6};

// The compiled filter run in user space over a built packet, as pcap_offline_filter does.
bool passes(LinkType link, const std::vector<std::uint8_t>& bytes) {
  std::unique_ptr<pcap_t, PcapCloser> handle(pcap_open_dead(to_dlt(link), 65535));
  std::string error;
  std::optional<CaptureFilter> filter = CaptureFilter::compile(handle.get(), error);
  EXPECT_TRUE(filter) << error;
  if (!filter) return false;
  pcap_pkthdr header{};
  header.caplen = header.len = static_cast<bpf_u_int32>(bytes.size());
  return filter->matches(header, bytes.data());
}

PacketSpec with_flags(std::uint8_t flags, bool v6) {
  PacketSpec spec;
  spec.flags = flags;
  if (v6) {
    spec.src = "2001:db8::1";
    spec.dst = "2001:db8::2";
  }
  return spec;
}

TEST(CaptureFilter, CompilesForEveryLinkTypeTheDissectorReads) {
  for (const LinkType link : kLinks) {
    std::unique_ptr<pcap_t, PcapCloser> handle(pcap_open_dead(to_dlt(link), 128));
    std::string error;
    EXPECT_TRUE(CaptureFilter::compile(handle.get(), error)) << to_string(link) << ": " << error;
  }
}

TEST(CaptureFilter, PassesSynFinAndRstOverIpv4AndIpv6OnEveryLinkType) {
  for (const LinkType link : kLinks) {
    for (const bool v6 : {false, true}) {
      if ((link == LinkType::kIpv4 && v6) || (link == LinkType::kIpv6 && !v6)) continue;
      const LinkType framing =
          link == LinkType::kIpv4 || link == LinkType::kIpv6 ? LinkType::kRaw : link;
      for (const std::uint8_t flags :
           {tcp_flags::kSyn, std::uint8_t(tcp_flags::kSyn | tcp_flags::kAck),
            std::uint8_t(tcp_flags::kFin | tcp_flags::kAck), tcp_flags::kRst,
            std::uint8_t(tcp_flags::kRst | tcp_flags::kAck)}) {
        EXPECT_TRUE(passes(link, frame(framing, with_flags(flags, v6))))
            << to_string(link) << (v6 ? " v6" : " v4") << " flags " << int(flags);
      }
      EXPECT_FALSE(passes(link, frame(framing, with_flags(tcp_flags::kAck, v6))))
          << to_string(link) << " pure ACK";
      EXPECT_FALSE(passes(link, frame(framing, with_flags(tcp_flags::kAck | tcp_flags::kPsh, v6))))
          << to_string(link) << " data";
    }
  }
}

TEST(CaptureFilter, RejectsUdp) {
  PacketSpec udp = with_flags(tcp_flags::kSyn, false);
  udp.protocol = 17;
  EXPECT_FALSE(passes(LinkType::kEthernet, frame(LinkType::kEthernet, udp)));
}

TEST(CaptureFilter, PassesControlSegmentsBehindOneOrTwoVlanTagsOnEthernet) {
  for (const bool v6 : {false, true}) {
    for (const std::vector<std::uint16_t>& tags :
         {std::vector<std::uint16_t>{0x8100}, std::vector<std::uint16_t>{0x88A8, 0x8100}}) {
      PacketSpec rst = with_flags(tcp_flags::kRst, v6);
      rst.vlan_tpids = tags;
      EXPECT_TRUE(passes(LinkType::kEthernet, frame(LinkType::kEthernet, rst)))
          << tags.size() << " tags" << (v6 ? " v6" : " v4");
      PacketSpec ack = with_flags(tcp_flags::kAck, v6);
      ack.vlan_tpids = tags;
      EXPECT_FALSE(passes(LinkType::kEthernet, frame(LinkType::kEthernet, ack)));
    }
  }
}

TEST(CaptureFilter, FindsTheTcpFlagsBehindIpv4Options) {
  PacketSpec spec = with_flags(tcp_flags::kFin | tcp_flags::kAck, false);
  spec.ipv4_options = 20;
  EXPECT_TRUE(passes(LinkType::kLinuxSll2, frame(LinkType::kLinuxSll2, spec)));
}

}  // namespace
}  // namespace connwatch::passive
