#include "probes/passive/replay.h"

#include <pcap/pcap.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <stdio_ext.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>

#include "probes/passive/capture_filter.h"
#include "probes/passive/link_type.h"
#include "probes/passive/packet_pipeline.h"

namespace connwatch::passive {
namespace {

struct PcapCloser {
  void operator()(pcap_t* handle) const { pcap_close(handle); }
};

struct ReplayState {
  PacketPipeline* pipeline;
  const CaptureFilter* filter;
};

PacketTime packet_time(const pcap_pkthdr& header) {
  return std::chrono::seconds(header.ts.tv_sec) + std::chrono::microseconds(header.ts.tv_usec);
}

void on_packet(u_char* user, const pcap_pkthdr* header, const u_char* data) {
  auto& state = *reinterpret_cast<ReplayState*>(user);
  const std::span<const std::uint8_t> bytes(data, header->caplen);
  if (state.filter->matches(*header, data)) {
    state.pipeline->on_packet(bytes, packet_time(*header));
    return;
  }
  // Live, the kernel runs the filter on the whole packet and snaplen cuts afterwards; in a file
  // the filter only sees what was kept and rejects a packet cut before the TCP flags. Such a
  // packet would have passed live if it was a control segment, and the dissector cannot tell
  // either way: count it as captured and truncated, like live capture would.
  if (header->caplen < header->len &&
      dissect(bytes, state.pipeline->link_type()).outcome == DissectOutcome::kTruncated) {
    state.pipeline->on_truncated_packet();
  }
}

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
                         PassiveMetrics* metrics) {
  ReplayResult result;
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  // libpcap reads a file with two fread()s per packet. A 1 MiB buffer instead of stdio's 4 KiB
  // saves a read(2) every ~50 packets, and FSETLOCKING_BYCALLER drops the lock stdio takes per
  // call (only this thread reads the file): together about a third of libpcap's read cost.
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) {
    result.error = path + ": " + std::strerror(errno);
    return result;
  }
  std::setvbuf(file, nullptr, _IOFBF, 1 << 20);
  __fsetlocking(file, FSETLOCKING_BYCALLER);
  // Microsecond timestamps whatever the file stores, to match PacketTime. pcap_close() closes
  // the file; on failure it is ours to close.
  std::unique_ptr<pcap_t, PcapCloser> handle(
      pcap_fopen_offline_with_tstamp_precision(file, PCAP_TSTAMP_PRECISION_MICRO, errbuf));
  if (!handle) {
    std::fclose(file);
    result.error = path + ": " + errbuf;
    return result;
  }
  const int dlt = pcap_datalink(handle.get());
  const std::optional<LinkType> link = link_type_from_dlt(dlt);
  if (!link) {
    const char* name = pcap_datalink_val_to_name(dlt);
    result.error = path + ": unsupported link type " + (name ? name : std::to_string(dlt)) +
                   " (supported: Ethernet, Linux cooked SLL/SLL2, NULL/loopback, raw IP, NFLOG)";
    return result;
  }
  std::string filter_error;
  std::optional<CaptureFilter> filter = CaptureFilter::compile(handle.get(), filter_error);
  if (!filter) {
    result.error = path + ": " + filter_error;
    return result;
  }
  result.opened = true;

  PacketPipeline pipeline(*link, options, metrics);
  pipeline.set_capture_up(true);
  ReplayState state{&pipeline, &*filter};
  const int status = pcap_loop(handle.get(), -1, on_packet, reinterpret_cast<u_char*>(&state));
  if (status == PCAP_ERROR) {
    result.error = path + ": corrupt after " + std::to_string(pipeline.snapshot().packets) +
                   " matching packets: " + pcap_geterr(handle.get());
  }
  pipeline.flush();
  result.snapshot = pipeline.snapshot();
  return result;
}

int run_replay(const std::string& path, ReplayFormat format, const FlowTrackerOptions& options,
               std::ostream& out, std::ostream& err) {
  constexpr int kExitRuntimeFailure = 3;  // SPEC §2
  // Prometheus output uses a private registry, so the text is exactly the passive families.
  prometheus::Registry registry;
  std::unique_ptr<PassiveMetrics> metrics;
  if (format == ReplayFormat::kPrometheus) {
    metrics = std::make_unique<PassiveMetrics>(registry, options);
  }
  const ReplayResult result = replay_file(path, options, metrics.get());
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
