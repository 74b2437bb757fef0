#include "probes/passive/capture_filter.h"

#include <gtest/gtest.h>
#include <pcap/pcap.h>

#include <filesystem>
#include <memory>
#include <vector>

#include "probes/passive/dissector.h"
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
                               LinkType::kIpv4,     LinkType::kIpv6,     LinkType::kNflog};

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

TEST(CaptureFilter, PassesControlSegmentsBehindOneToFourVlanTagsOnEthernet) {
  for (const bool v6 : {false, true}) {
    std::vector<std::uint16_t> tags;
    for (const std::uint16_t tpid : {0x88A8, 0x8100, 0x9100, 0x8100, 0x8100}) {
      tags.push_back(tpid);
      PacketSpec rst = with_flags(tcp_flags::kRst, v6);
      rst.vlan_tpids = tags;
      const bool understood = tags.size() <= static_cast<std::size_t>(kMaxVlanTags);
      EXPECT_EQ(passes(LinkType::kEthernet, frame(LinkType::kEthernet, rst)), understood)
          << tags.size() << " tags" << (v6 ? " v6" : " v4");
      PacketSpec ack = with_flags(tcp_flags::kAck, v6);
      ack.vlan_tpids = tags;
      EXPECT_FALSE(passes(LinkType::kEthernet, frame(LinkType::kEthernet, ack)));
    }
  }
}

TEST(CaptureFilter, FollowsIpv6ExtensionHeaderChainsOnEveryLinkType) {
  using testing::Ipv6Extension;
  const std::vector<std::vector<Ipv6Extension>> chains = {
      {{.type = 0}},
      {{.type = 43, .length = 24}},
      {{.type = 44}},
      {{.type = 60}, {.type = 43, .length = 24}, {.type = 44}},
      {{.type = 0}, {.type = 51, .length = 16}},
      std::vector<Ipv6Extension>(kMaxIpv6ExtensionHeaders, Ipv6Extension{.type = 60}),
  };
  for (const LinkType link : kLinks) {
    if (link == LinkType::kIpv4) continue;
    const LinkType framing = link == LinkType::kIpv6 ? LinkType::kRaw : link;
    for (const auto& chain : chains) {
      PacketSpec fin = with_flags(tcp_flags::kFin | tcp_flags::kAck, true);
      fin.ipv6_extensions = chain;
      EXPECT_TRUE(passes(link, frame(framing, fin))) << to_string(link) << " " << chain.size();
      PacketSpec ack = with_flags(tcp_flags::kAck, true);
      ack.ipv6_extensions = chain;
      EXPECT_FALSE(passes(link, frame(framing, ack))) << to_string(link) << " " << chain.size();
    }
    PacketSpec too_deep = with_flags(tcp_flags::kRst, true);
    too_deep.ipv6_extensions.assign(kMaxIpv6ExtensionHeaders + 1, Ipv6Extension{.type = 60});
    EXPECT_FALSE(passes(link, frame(framing, too_deep))) << to_string(link);
    PacketSpec later_fragment = with_flags(tcp_flags::kRst, true);
    later_fragment.ipv6_extensions = {{.type = 44, .fragment_offset = 185}};
    EXPECT_FALSE(passes(link, frame(framing, later_fragment))) << to_string(link);
  }
}

// The filter passes exactly what the dissector understands, pinned on every packet of every
// replay fixture: a control segment the dissector reads passes, everything it reads as something
// else (another protocol, a pure ACK, a later fragment, too many tags or headers) does not.
TEST(CaptureFilter, AgreesWithTheDissectorOnEveryPacketOfEveryFixture) {
  const std::filesystem::path pcaps =
      std::filesystem::path(CONNWATCH_SOURCE_DIR) / "tests/probes/passive/pcaps";
  std::size_t files = 0;
  std::size_t compared = 0;
  for (const auto& file : std::filesystem::directory_iterator(pcaps)) {
    const std::string name = file.path().filename().string();
    if (!name.ends_with(".pcap") && !name.ends_with(".pcapng")) continue;
    char errbuf[PCAP_ERRBUF_SIZE] = {};
    std::unique_ptr<pcap_t, PcapCloser> handle(pcap_open_offline(file.path().c_str(), errbuf));
    ASSERT_TRUE(handle) << name << ": " << errbuf;
    const std::optional<LinkType> link = link_type_from_dlt(pcap_datalink(handle.get()));
    ASSERT_TRUE(link) << name;
    std::string error;
    const std::optional<CaptureFilter> filter = CaptureFilter::for_link(*link, error);
    ASSERT_TRUE(filter) << error;
    ++files;
    pcap_pkthdr* header = nullptr;
    const u_char* data = nullptr;
    for (int index = 0; pcap_next_ex(handle.get(), &header, &data) == 1; ++index) {
      const DissectResult result = dissect({data, header->caplen}, *link);
      const bool passed = filter->matches(*header, data);
      switch (result.outcome) {
        case DissectOutcome::kSegment:
          EXPECT_EQ(passed, (result.segment.flags & 0x07) != 0) << name << " packet " << index;
          ++compared;
          break;
        case DissectOutcome::kNotTcp:
          EXPECT_FALSE(passed) << name << " packet " << index;
          ++compared;
          break;
        case DissectOutcome::kTruncated:  // snaplen copies: live, the kernel saw it whole
        case DissectOutcome::kMalformed:  // lengths the filter does not check: either way
          break;
      }
    }
  }
  EXPECT_GE(files, 35u);
  EXPECT_GE(compared, 300u);
}

TEST(CaptureFilter, FindsTheTcpFlagsBehindIpv4Options) {
  PacketSpec spec = with_flags(tcp_flags::kFin | tcp_flags::kAck, false);
  spec.ipv4_options = 20;
  EXPECT_TRUE(passes(LinkType::kLinuxSll2, frame(LinkType::kLinuxSll2, spec)));
}

}  // namespace
}  // namespace connwatch::passive
