#include "probes/passive/dissector.h"

#include <gtest/gtest.h>

#include <array>
#include <string>
#include <vector>

#include "tests/probes/passive/packet_builder.h"

namespace connwatch::passive {
namespace {

using testing::frame;
using testing::link_header_length;
using testing::PacketSpec;

constexpr std::array kAllLinks = {LinkType::kEthernet, LinkType::kLinuxSll, LinkType::kLinuxSll2,
                                  LinkType::kNull,     LinkType::kLoop,     LinkType::kRaw,
                                  LinkType::kNflog};

DissectResult run(LinkType link, const std::vector<std::uint8_t>& bytes) {
  return dissect(std::span<const std::uint8_t>(bytes.data(), bytes.size()), link);
}

PacketSpec fin_with_data() {
  PacketSpec spec;
  spec.src = "192.0.2.10";
  spec.dst = "198.51.100.20";
  spec.src_port = 51234;
  spec.dst_port = 443;
  spec.seq = 0xDEADBEEF;
  spec.ack = 0x01020304;
  spec.flags = tcp_flags::kFin | tcp_flags::kAck | tcp_flags::kPsh;
  spec.ttl = 57;
  spec.ip_id = 0xBEEF;
  spec.payload = 11;
  return spec;
}

void expect_fields(const TcpSegment& s, const PacketSpec& spec) {
  EXPECT_EQ(s.src, testing::address(spec.src));
  EXPECT_EQ(s.dst, testing::address(spec.dst));
  EXPECT_EQ(s.src_port, spec.src_port);
  EXPECT_EQ(s.dst_port, spec.dst_port);
  EXPECT_EQ(s.seq, spec.seq);
  EXPECT_EQ(s.ack, spec.ack);
  EXPECT_EQ(s.flags, spec.flags);
  EXPECT_EQ(s.ttl, spec.ttl);
  EXPECT_EQ(s.payload_length, spec.payload);
}

TEST(Dissector, ReadsEveryFieldOfAnIpv4SegmentOnEveryLinkType) {
  const PacketSpec spec = fin_with_data();
  for (const LinkType link : kAllLinks) {
    SCOPED_TRACE(std::string(to_string(link)));
    const DissectResult result = run(link, frame(link, spec));
    ASSERT_EQ(result.outcome, DissectOutcome::kSegment);
    expect_fields(result.segment, spec);
    EXPECT_EQ(result.segment.ip_id, spec.ip_id);
  }
}

TEST(Dissector, ReadsEveryFieldOfAnIpv6SegmentOnEveryLinkType) {
  PacketSpec spec = fin_with_data();
  spec.src = "2001:db8::10";
  spec.dst = "2001:db8:1::20";
  for (const LinkType link : kAllLinks) {
    SCOPED_TRACE(std::string(to_string(link)));
    const DissectResult result = run(link, frame(link, spec));
    ASSERT_EQ(result.outcome, DissectOutcome::kSegment);
    expect_fields(result.segment, spec);
    EXPECT_EQ(result.segment.ip_id, 0u);  // no fragment header, no identification
  }
}

TEST(Dissector, ReadsDltIpv4AndDltIpv6AndRejectsTheOtherVersion) {
  PacketSpec v4 = fin_with_data();
  PacketSpec v6 = fin_with_data();
  v6.src = "2001:db8::1";
  v6.dst = "2001:db8::2";
  EXPECT_EQ(run(LinkType::kIpv4, frame(LinkType::kRaw, v4)).outcome, DissectOutcome::kSegment);
  EXPECT_EQ(run(LinkType::kIpv6, frame(LinkType::kRaw, v6)).outcome, DissectOutcome::kSegment);
  EXPECT_EQ(run(LinkType::kIpv4, frame(LinkType::kRaw, v6)).outcome, DissectOutcome::kMalformed);
  EXPECT_EQ(run(LinkType::kIpv6, frame(LinkType::kRaw, v4)).outcome, DissectOutcome::kMalformed);
}

TEST(Dissector, SkipsOneAndTwoVlanTags) {
  for (const std::vector<std::uint16_t>& tags :
       {std::vector<std::uint16_t>{0x8100}, std::vector<std::uint16_t>{0x88A8, 0x8100},
        std::vector<std::uint16_t>{0x9100, 0x8100}}) {
    PacketSpec spec = fin_with_data();
    spec.vlan_tpids = tags;
    const DissectResult result = run(LinkType::kEthernet, frame(LinkType::kEthernet, spec));
    ASSERT_EQ(result.outcome, DissectOutcome::kSegment) << tags.size() << " tags";
    expect_fields(result.segment, spec);
  }
}

TEST(Dissector, GivesUpOnMoreVlanTagsThanAnyHostUses) {
  PacketSpec spec = fin_with_data();
  spec.vlan_tpids = {0x8100, 0x8100, 0x8100, 0x8100, 0x8100};
  EXPECT_EQ(run(LinkType::kEthernet, frame(LinkType::kEthernet, spec)).outcome,
            DissectOutcome::kNotTcp);
}

TEST(Dissector, ReadsFourVlanTags) {
  PacketSpec spec = fin_with_data();
  spec.vlan_tpids = {0x88A8, 0x8100, 0x8100, 0x8100};
  const DissectResult result = run(LinkType::kEthernet, frame(LinkType::kEthernet, spec));
  ASSERT_EQ(result.outcome, DissectOutcome::kSegment);
  expect_fields(result.segment, spec);
}

TEST(Dissector, FindsTheNflogPayloadAndRejectsBrokenTlvs) {
  const PacketSpec spec = fin_with_data();
  std::vector<std::uint8_t> bytes = frame(LinkType::kNflog, spec);
  bytes[0] = 7;  // an address family NFLOG does not log IP under
  EXPECT_EQ(run(LinkType::kNflog, bytes).outcome, DissectOutcome::kNotTcp);
  bytes = frame(LinkType::kNflog, spec);
  bytes[4] = 2;  // the first TLV says it is shorter than its own header
  bytes[5] = 0;
  EXPECT_EQ(run(LinkType::kNflog, bytes).outcome, DissectOutcome::kMalformed);
  bytes = frame(LinkType::kNflog, spec);
  bytes.resize(30);  // cut inside the payload TLV's header
  EXPECT_EQ(run(LinkType::kNflog, bytes).outcome, DissectOutcome::kTruncated);
}

TEST(Dissector, TakesDirectionFromCookedPacketType) {
  for (const LinkType link : {LinkType::kLinuxSll, LinkType::kLinuxSll2}) {
    PacketSpec spec = fin_with_data();
    spec.pkttype = 4;  // PACKET_OUTGOING
    EXPECT_EQ(run(link, frame(link, spec)).segment.direction, Direction::kOutgoing);
    spec.pkttype = 0;  // PACKET_HOST
    EXPECT_EQ(run(link, frame(link, spec)).segment.direction, Direction::kIncoming);
    spec.pkttype = 3;  // PACKET_OTHERHOST
    EXPECT_EQ(run(link, frame(link, spec)).segment.direction, Direction::kUnknown);
  }
  PacketSpec spec = fin_with_data();
  EXPECT_EQ(run(LinkType::kEthernet, frame(LinkType::kEthernet, spec)).segment.direction,
            Direction::kUnknown);
}

TEST(Dissector, ReadsTheInterfaceIndexFromSll2) {
  PacketSpec spec = fin_with_data();
  spec.ifindex = 42;
  EXPECT_EQ(run(LinkType::kLinuxSll2, frame(LinkType::kLinuxSll2, spec)).segment.ifindex, 42u);
}

TEST(Dissector, ReadsNullHeadersWrittenInEitherByteOrderAndEveryBsdInet6Value) {
  PacketSpec v4 = fin_with_data();
  v4.null_big_endian = true;
  EXPECT_EQ(run(LinkType::kNull, frame(LinkType::kNull, v4)).outcome, DissectOutcome::kSegment);
  for (const std::uint32_t af_inet6 : {10u, 24u, 28u, 30u}) {
    for (const bool big_endian : {false, true}) {
      PacketSpec v6 = fin_with_data();
      v6.src = "2001:db8::1";
      v6.dst = "2001:db8::2";
      v6.null_af_inet6 = af_inet6;
      v6.null_big_endian = big_endian;
      EXPECT_EQ(run(LinkType::kNull, frame(LinkType::kNull, v6)).outcome, DissectOutcome::kSegment)
          << af_inet6 << (big_endian ? " big" : " little");
      EXPECT_EQ(run(LinkType::kLoop, frame(LinkType::kLoop, v6)).outcome, DissectOutcome::kSegment)
          << af_inet6;
    }
  }
}

TEST(Dissector, CallsAnUnknownNullFamilyNotTcp) {
  std::vector<std::uint8_t> bytes = frame(LinkType::kNull, fin_with_data());
  bytes[0] = 7;  // AF_LOCAL
  EXPECT_EQ(run(LinkType::kNull, bytes).outcome, DissectOutcome::kNotTcp);
}

TEST(Dissector, SkipsIpv4Options) {
  for (const std::size_t options : {4u, 20u, 40u}) {
    PacketSpec spec = fin_with_data();
    spec.ipv4_options = options;
    const DissectResult result = run(LinkType::kEthernet, frame(LinkType::kEthernet, spec));
    ASSERT_EQ(result.outcome, DissectOutcome::kSegment) << options;
    expect_fields(result.segment, spec);
  }
}

TEST(Dissector, WalksIpv6ExtensionHeaders) {
  PacketSpec spec = fin_with_data();
  spec.src = "2001:db8::1";
  spec.dst = "2001:db8::2";
  spec.ipv6_extensions = {{0, 8}, {43, 24}, {60, 16}, {51, 16}};
  const DissectResult result = run(LinkType::kRaw, frame(LinkType::kRaw, spec));
  ASSERT_EQ(result.outcome, DissectOutcome::kSegment);
  expect_fields(result.segment, spec);
}

TEST(Dissector, ReadsTheFirstIpv6FragmentAndItsIdentification) {
  PacketSpec spec = fin_with_data();
  spec.src = "2001:db8::1";
  spec.dst = "2001:db8::2";
  spec.ipv6_extensions = {{0, 8}, {44, 8, 0, 0xCAFEF00D}};
  const DissectResult result = run(LinkType::kRaw, frame(LinkType::kRaw, spec));
  ASSERT_EQ(result.outcome, DissectOutcome::kSegment);
  EXPECT_EQ(result.segment.ip_id, 0xCAFEF00Du);
  expect_fields(result.segment, spec);
}

TEST(Dissector, CallsANonFirstFragmentNotTcp) {
  PacketSpec v6 = fin_with_data();
  v6.src = "2001:db8::1";
  v6.dst = "2001:db8::2";
  v6.ipv6_extensions = {{44, 8, 185, 1}};
  EXPECT_EQ(run(LinkType::kRaw, frame(LinkType::kRaw, v6)).outcome, DissectOutcome::kNotTcp);
  PacketSpec v4 = fin_with_data();
  v4.ipv4_fragment_offset = 185;
  EXPECT_EQ(run(LinkType::kRaw, frame(LinkType::kRaw, v4)).outcome, DissectOutcome::kNotTcp);
}

TEST(Dissector, CallsOtherProtocolsNotTcp) {
  PacketSpec udp = fin_with_data();
  udp.protocol = 17;
  EXPECT_EQ(run(LinkType::kEthernet, frame(LinkType::kEthernet, udp)).outcome,
            DissectOutcome::kNotTcp);
  PacketSpec no_next = fin_with_data();
  no_next.src = "2001:db8::1";
  no_next.dst = "2001:db8::2";
  no_next.protocol = 59;
  EXPECT_EQ(run(LinkType::kRaw, frame(LinkType::kRaw, no_next)).outcome, DissectOutcome::kNotTcp);
  std::vector<std::uint8_t> arp = frame(LinkType::kEthernet, fin_with_data());
  arp[12] = 0x08;
  arp[13] = 0x06;
  EXPECT_EQ(run(LinkType::kEthernet, arp).outcome, DissectOutcome::kNotTcp);
}

TEST(Dissector, TakesThePayloadLengthFromIpNotFromEthernetPadding) {
  PacketSpec spec = fin_with_data();
  spec.payload = 0;
  std::vector<std::uint8_t> bytes = frame(LinkType::kEthernet, spec);
  ASSERT_EQ(bytes.size(), 54u);
  bytes.resize(60, 0);  // minimum Ethernet frame
  const DissectResult result = run(LinkType::kEthernet, bytes);
  ASSERT_EQ(result.outcome, DissectOutcome::kSegment);
  EXPECT_EQ(result.segment.payload_length, 0u);
}

TEST(Dissector, KeepsThePayloadLengthWhenSnaplenCutsThePayload) {
  PacketSpec spec = fin_with_data();
  spec.payload = 1400;
  std::vector<std::uint8_t> bytes = frame(LinkType::kLinuxSll2, spec);
  bytes.resize(128);
  const DissectResult result = run(LinkType::kLinuxSll2, bytes);
  ASSERT_EQ(result.outcome, DissectOutcome::kSegment);
  EXPECT_EQ(result.segment.payload_length, 1400u);
}

TEST(Dissector, FallsBackToTheCapturedLengthForTsoPacketsWithZeroTotalLength) {
  PacketSpec spec = fin_with_data();
  std::vector<std::uint8_t> bytes = frame(LinkType::kRaw, spec);
  bytes[2] = bytes[3] = 0;
  const DissectResult result = run(LinkType::kRaw, bytes);
  ASSERT_EQ(result.outcome, DissectOutcome::kSegment);
  EXPECT_EQ(result.segment.payload_length, spec.payload);
}

// Every prefix of a packet shorter than the fields the tracker needs (link header, IP header with
// options or extension headers, TCP bytes 0..13) is truncated; every longer prefix still yields
// the same segment.
TEST(Dissector, CallsEveryPrefixShorterThanTheTcpFlagsTruncated) {
  std::vector<PacketSpec> specs;
  specs.push_back(fin_with_data());
  PacketSpec options = fin_with_data();
  options.ipv4_options = 12;
  options.vlan_tpids = {0x88A8, 0x8100};
  specs.push_back(options);
  PacketSpec v6 = fin_with_data();
  v6.src = "2001:db8::1";
  v6.dst = "2001:db8::2";
  v6.ipv6_extensions = {{0, 8}, {44, 8, 0, 9}, {60, 16}};
  specs.push_back(v6);

  for (const PacketSpec& spec : specs) {
    for (const LinkType link : kAllLinks) {
      const std::vector<std::uint8_t> bytes = frame(link, spec);
      std::size_t ip_header = 20 + spec.ipv4_options;
      if (spec.src.find(':') != std::string::npos) {
        ip_header = 40;
        for (const auto& ext : spec.ipv6_extensions) ip_header += ext.length;
      }
      const std::size_t needed = link_header_length(link, spec) + ip_header + 14;
      for (std::size_t length = 0; length < bytes.size(); ++length) {
        const std::vector<std::uint8_t> prefix(bytes.begin(), bytes.begin() + length);
        const DissectResult result = run(link, prefix);
        if (length < needed) {
          ASSERT_EQ(result.outcome, DissectOutcome::kTruncated)
              << to_string(link) << " cut at " << length << " of " << bytes.size();
        } else {
          ASSERT_EQ(result.outcome, DissectOutcome::kSegment)
              << to_string(link) << " cut at " << length;
          expect_fields(result.segment, spec);
        }
      }
    }
  }
}

struct Corruption {
  const char* what;
  std::size_t offset;  // from the start of the IP header
  std::uint8_t value;
};

TEST(Dissector, CallsImpossibleIpv4LengthsMalformed) {
  const PacketSpec spec = fin_with_data();  // IPv4 20 + TCP 20 + payload 11 = 51
  const std::vector<Corruption> corruptions = {
      {"IHL below 5 words", 0, 0x44},
      {"wrong version", 0, 0x55},
      {"total length below the header", 3, 19},
      {"total length leaves no room for a TCP header", 3, 39},
      {"TCP data offset below 5 words", 20 + 12, 0x40},
      {"TCP data offset past the IP payload", 20 + 12, 0xF0},
  };
  for (const Corruption& c : corruptions) {
    std::vector<std::uint8_t> bytes = frame(LinkType::kRaw, spec);
    if (c.offset == 3) bytes[2] = 0;  // total length high byte
    bytes[c.offset] = c.value;
    if (c.offset == 0 && c.value == 0x55) {
      EXPECT_EQ(run(LinkType::kIpv4, bytes).outcome, DissectOutcome::kMalformed) << c.what;
    } else {
      EXPECT_EQ(run(LinkType::kRaw, bytes).outcome, DissectOutcome::kMalformed) << c.what;
    }
  }
}

TEST(Dissector, CallsIpv6ExtensionHeadersLongerThanThePayloadMalformed) {
  PacketSpec spec = fin_with_data();
  spec.src = "2001:db8::1";
  spec.dst = "2001:db8::2";
  spec.ipv6_extensions = {{0, 8}};
  std::vector<std::uint8_t> bytes = frame(LinkType::kRaw, spec);
  bytes[40 + 1] = 200;  // hop-by-hop claims 1608 bytes
  EXPECT_EQ(run(LinkType::kRaw, bytes).outcome, DissectOutcome::kMalformed);

  std::vector<std::uint8_t> short_payload = frame(LinkType::kRaw, spec);
  short_payload[4] = 0;
  short_payload[5] = 20;  // payload length covers the extension header and half a TCP header
  EXPECT_EQ(run(LinkType::kRaw, short_payload).outcome, DissectOutcome::kMalformed);
}

TEST(Dissector, CallsATruncatedPrefixTruncatedEvenWhenTheLengthsClaimMore) {
  // Snaplen cuts, the IP header still says the full length: truncated, not malformed.
  PacketSpec spec = fin_with_data();
  spec.payload = 1000;
  std::vector<std::uint8_t> bytes = frame(LinkType::kEthernet, spec);
  bytes.resize(40);
  EXPECT_EQ(run(LinkType::kEthernet, bytes).outcome, DissectOutcome::kTruncated);
}

TEST(Dissector, NamesOutcomesWithTheirLabelValues) {
  EXPECT_EQ(to_string(DissectOutcome::kTruncated), "truncated");
  EXPECT_EQ(to_string(DissectOutcome::kMalformed), "malformed");
  EXPECT_EQ(to_string(DissectOutcome::kSegment), "segment");
  EXPECT_EQ(to_string(DissectOutcome::kNotTcp), "not_tcp");
}

}  // namespace
}  // namespace connwatch::passive
