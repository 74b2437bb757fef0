// Fuzzes the passive probe's packet path: dissector, capture filter, flow tracker, peer table,
// snapshot. The filter must agree with the dissector on every input: a control segment the
// dissector reads passes, anything it reads as not TCP does not.
//
// Input: byte 0 picks the link type; then [u8 length][bytes] chunks, each one captured packet,
// so one input is a whole conversation and the tracker's state machine gets explored too. The
// seeds (tests/fuzz/corpus/dissector/) are the pcap fixtures' packets in this format, written by
// tests/probes/passive/pcaps/make_fixtures.py.
#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "probes/passive/capture_filter.h"
#include "probes/passive/dissector.h"
#include "probes/passive/packet_pipeline.h"

namespace {

using connwatch::passive::DissectOutcome;
using connwatch::passive::LinkType;
using connwatch::passive::PacketTime;

constexpr std::array kLinks = {LinkType::kEthernet, LinkType::kLinuxSll, LinkType::kLinuxSll2,
                               LinkType::kNull,     LinkType::kLoop,     LinkType::kRaw,
                               LinkType::kIpv4,     LinkType::kIpv6,     LinkType::kNflog};

void check(bool invariant) {
  if (!invariant) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const LinkType link = kLinks[data[0] % kLinks.size()];
  connwatch::passive::FlowTrackerOptions options;
  options.max_flows = 8;  // small, so LRU eviction happens
  options.max_peers = 2;
  options.flow_idle_timeout = std::chrono::seconds(60);
  options.established_timeout = std::chrono::seconds(300);
  options.ports = {8080};
  connwatch::passive::PacketPipeline pipeline(link, options, nullptr);
  std::string error;
  static const auto filters = [&] {
    std::vector<connwatch::passive::CaptureFilter> out;
    for (const LinkType each : kLinks) {
      out.push_back(std::move(*connwatch::passive::CaptureFilter::for_link(each, error)));
    }
    return out;
  }();
  const auto& filter = filters[data[0] % kLinks.size()];

  PacketTime now = std::chrono::seconds(1700000000);
  std::size_t at = 1;
  std::size_t packets = 0;
  while (at < size) {
    const std::size_t length = std::min<std::size_t>(data[at], size - at - 1);
    ++at;
    const std::span<const std::uint8_t> packet(data + at, length);
    at += length;

    const auto result = connwatch::passive::dissect(packet, link);
    if (result.outcome == DissectOutcome::kSegment) {
      // The payload length comes from the IP header (at most 65535) or, without one, the capture.
      check(result.segment.payload_length <= 65535 + length);
    }
    pcap_pkthdr header{};
    header.caplen = header.len = static_cast<bpf_u_int32>(length);
    const bool passed = filter.matches(header, packet.data());
    if (result.outcome == DissectOutcome::kSegment) {
      check(passed == ((result.segment.flags & 0x07) != 0));
    } else if (result.outcome == DissectOutcome::kNotTcp) {
      check(!passed);
    }
    pipeline.on_packet(packet, now);
    ++packets;
    // Mostly inside the de-duplication window, sometimes past the idle timeout.
    now += packets % 7 == 0 ? PacketTime(std::chrono::minutes(2))
                            : PacketTime(std::chrono::microseconds(length * 97));
  }

  const auto snapshot = pipeline.snapshot();
  check(snapshot.packets == packets);
  check(snapshot.truncated + snapshot.malformed + snapshot.not_tcp + snapshot.duplicates <=
        packets);
  check(snapshot.resets_total() <= packets);
  check(snapshot.resets_suspected_middlebox <= snapshot.resets_total());
  check(snapshot.closes[0] + snapshot.closes[1] <= packets);
  check(snapshot.time_wait_entries[0] + snapshot.time_wait_entries[1] <= 2 * snapshot.closes[0]);
  check(snapshot.flows <= options.max_flows);
  std::uint64_t peer_resets = 0;
  for (const auto& peer : snapshot.peers) peer_resets += peer.total();
  check(peer_resets == snapshot.resets_total());
  check(snapshot.peers.size() <= options.max_peers + 1);
  (void)connwatch::passive::to_json(snapshot).dump();
  return 0;
}
