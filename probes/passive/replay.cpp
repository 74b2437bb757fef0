#include "probes/passive/replay.h"

#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "probes/passive/capture_file.h"
#include "probes/passive/capture_filter.h"
#include "probes/passive/link_type.h"
#include "probes/passive/packet_pipeline.h"
#include "probes/passive/replay_shards.h"

namespace connwatch::passive {
namespace {

// Replay's state per capture interface: its framing and filter, set up when its first packet
// comes (a pcapng file may describe interfaces it never uses, of link types we do not read).
struct InterfaceState {
  bool checked = false;
  std::optional<LinkType> link;
  std::optional<CaptureFilter> filter;
};

// Pages of the file walked are handed back every this many bytes (MappedFile::release_before):
// the resident size stays flat whatever the file's size.
constexpr std::size_t kReleaseEvery = std::size_t{4} << 20;

}  // namespace

std::string_view to_string(ReplayFormat format) {
  switch (format) {
    case ReplayFormat::kText:
      return "text";
    case ReplayFormat::kJson:
      return "json";
    case ReplayFormat::kPrometheus:
      return "prometheus";
  }
  return "text";
}

std::optional<ReplayFormat> replay_format_from_string(std::string_view text) {
  if (text == "text") return ReplayFormat::kText;
  if (text == "json") return ReplayFormat::kJson;
  if (text == "prometheus") return ReplayFormat::kPrometheus;
  return std::nullopt;
}

ReplayResult replay_file(const std::string& path, const FlowTrackerOptions& options,
                         PassiveMetrics* metrics, std::size_t threads) {
  ReplayResult result;
  // The file is walked in memory by CaptureFileReader rather than read through libpcap (two
  // fread()s per packet), and selected by the dissector (CaptureFilter::selects) rather than by
  // running the BPF program on every packet: together about tcpdump's whole run time before.
  MappedFile file = MappedFile::open(path, result.error);
  if (!result.error.empty()) return result;
  CaptureFileReader reader(file.bytes());
  if (!reader.open()) {
    result.error = path + ": " + reader.error().to_string();
    return result;
  }
  std::vector<InterfaceState> interfaces;
  // The first interface's framing names the pipeline's default; packets carry their own.
  LinkType first_link = LinkType::kEthernet;
  if (!reader.interfaces().empty()) {
    const std::uint32_t linktype = reader.interfaces().front().linktype;
    const std::optional<LinkType> link = link_type_from_linktype(linktype);
    if (!link) {
      result.error = path + ": unsupported link type " + linktype_name(linktype) +
                     " (supported: Ethernet, Linux cooked SLL/SLL2, NULL/loopback, raw IP, NFLOG)";
      return result;
    }
    first_link = *link;
  }
  result.opened = true;

  PacketPipeline pipeline(first_link, options, metrics);
  pipeline.set_capture_up(true);
  std::unique_ptr<ReplayShards> shards;
  if (threads > 1 && metrics == nullptr) {
    shards = std::make_unique<ReplayShards>(threads, first_link, options);
  }
  const auto packets_so_far = [&] {
    return shards ? shards->packets() : pipeline.snapshot().packets;
  };
  std::vector<PacketPipeline::Dissected> batch;
  batch.reserve(PacketPipeline::kBatch);
  std::size_t released_at = 0;
  file.populate_before(2 * kReleaseEvery);
  std::uint64_t records = 0;
  CaptureRecord record;
  while (reader.next(record)) {
    if (record.interface >= interfaces.size()) interfaces.resize(record.interface + 1);
    InterfaceState& interface = interfaces[record.interface];
    if (!interface.checked) {
      interface.checked = true;
      const std::uint32_t linktype = reader.interfaces()[record.interface].linktype;
      interface.link = link_type_from_linktype(linktype);
      std::string filter_error;
      if (interface.link) interface.filter = CaptureFilter::for_link(*interface.link, filter_error);
      if (!interface.filter) {
        result.error = path + ": unsupported link type " + linktype_name(linktype) +
                       " on interface " + std::to_string(record.interface) + " at byte " +
                       std::to_string(record.offset) + (filter_error.empty() ? "" : ": ") +
                       filter_error;
        if (records == 0) result.opened = false;
        break;
      }
    }
    ++records;
    PacketPipeline::Dissected& packet = batch.emplace_back();
    dissect(record.bytes, *interface.link, packet.result);
    packet.time = record.time;
    if (!interface.filter->selects(packet.result, record.bytes, record.wire_length)) {
      batch.pop_back();
      // Live, the kernel runs the filter on the whole packet and snaplen cuts afterwards; in a
      // file the filter only sees what was kept and rejects a packet cut before the TCP flags.
      // Such a packet would have passed live if it was a control segment, and the dissector
      // cannot tell either way: count it as captured and truncated, like live capture would.
      if (record.bytes.size() < record.wire_length &&
          packet.result.outcome == DissectOutcome::kTruncated) {
        if (shards) {
          shards->add_truncated();
        } else {
          pipeline.on_truncated_packet();
        }
      }
    }
    if (batch.size() == PacketPipeline::kBatch) {
      if (shards) {
        for (const PacketPipeline::Dissected& each : batch) shards->add(each);
      } else {
        pipeline.on_batch(batch);
      }
      batch.clear();
      if (reader.position() - released_at >= kReleaseEvery) {
        released_at = reader.position();
        file.release_before(released_at);
        file.populate_before(released_at + 2 * kReleaseEvery);
      }
    }
  }
  if (shards) {
    for (const PacketPipeline::Dissected& each : batch) shards->add(each);
  } else {
    pipeline.on_batch(batch);
  }
  if (reader.error() && result.error.empty()) {
    result.error = path + ": corrupt after " + std::to_string(packets_so_far()) +
                   " matching packets: " + reader.error().to_string();
  }
  if (!result.opened) return result;
  if (shards) {
    result.snapshot = shards->finish();
    return result;
  }
  pipeline.flush();
  result.snapshot = pipeline.snapshot();
  return result;
}

int run_replay(const std::string& path, ReplayFormat format, const FlowTrackerOptions& options,
               std::ostream& out, std::ostream& err, std::size_t threads) {
  constexpr int kExitRuntimeFailure = 3;  // SPEC §2
  // Prometheus output uses a private registry, so the text is exactly the passive families.
  prometheus::Registry registry;
  std::unique_ptr<PassiveMetrics> metrics;
  if (format == ReplayFormat::kPrometheus) {
    metrics = std::make_unique<PassiveMetrics>(registry, options);
  }
  const ReplayResult result = replay_file(path, options, metrics.get(), threads);
  if (!result.opened) {
    err << "connwatch: cannot replay " << result.error << "\n";
    return kExitRuntimeFailure;
  }
  switch (format) {
    case ReplayFormat::kText:
      out << path << "\n";
      write_summary(out, result.snapshot);
      break;
    case ReplayFormat::kJson:
      out << to_json(result.snapshot).dump() << "\n";
      break;
    case ReplayFormat::kPrometheus:
      prometheus::TextSerializer().Serialize(out, registry.Collect());
      break;
  }
  if (!result.error.empty()) {
    err << "connwatch: replay stopped early, counts above are partial: " << result.error << "\n";
    return kExitRuntimeFailure;
  }
  return 0;
}

}  // namespace connwatch::passive
