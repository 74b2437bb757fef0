// LiveCapture: captures SYN/FIN/RST segments from an interface on its own thread and feeds them
// through a PacketPipeline into PassiveMetrics.
//
// The capture is opened the way TCP-NOTES §4 recommends: TPACKET_V3 ring (so NOT immediate
// mode, which falls back to V2), pcap_set_timeout 250 ms so blocks are handed over when sparse,
// a 32 MiB buffer, snaplen 128, and SLL2 on "any" (ifindex + pkttype for direction). When the
// capture cannot be opened or fails later (no CAP_NET_RAW, no such interface, interface deleted)
// it logs one warning, sets connwatch_capture_up to 0, and retries with exponential backoff until
// it works again; the agent keeps running.
//
// A config reload changes a running capture without losing its flows, peer table or counts:
// reconfigure() for what needs no new handle, reopen() for what does (interface, buffer size).
#pragma once

#include <pcap/pcap.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>

#include "probes/passive/flow_tracker.h"
#include "probes/passive/link_type.h"
#include "probes/passive/packet_pipeline.h"
#include "probes/passive/passive_metrics.h"
#include "probes/passive/passive_snapshot.h"

namespace connwatch::passive {

struct CaptureOptions {
  std::string interface = "any";
  int snaplen = 128;                   // SLL2(20) + IPv4(60) + TCP flags: always enough
  int buffer_size = 32 * 1024 * 1024;  // bytes; libpcap's default ring is only 2 MiB
  std::chrono::milliseconds timeout{250};
  std::chrono::milliseconds retry_initial{1000};
  std::chrono::milliseconds retry_max{30000};
};

class LiveCapture {
 public:
  // metrics may be null (diagnose without an exporter, tests).
  LiveCapture(CaptureOptions capture, FlowTrackerOptions tracker, PassiveMetrics* metrics);
  LiveCapture(const LiveCapture&) = delete;
  LiveCapture& operator=(const LiveCapture&) = delete;
  ~LiveCapture();  // stop()

  // Tries to open the capture once, on the calling thread (so a caller in another network
  // namespace captures there), then starts the capture thread, which keeps retrying if this
  // attempt failed. Returns whether capture is up now.
  bool start();
  // Stops the thread (pcap_breakloop); returns within about one pcap timeout. Sets
  // connwatch_capture_up to 0.
  void stop();

  // Applies reloaded tracker options (ports, max_flows, flow_idle_timeout, max_peers) in place:
  // same handle, same flows and peer table, no count reset (PacketPipeline::reconfigure). The
  // capture thread applies them between two batches (woken with pcap_breakloop); returns once
  // they are applied. Needs no privilege. Not concurrent with start/stop/reopen.
  void reconfigure(const FlowTrackerOptions& tracker);

  // Opens a handle for `capture` (another interface, buffer size or snaplen) on the calling
  // thread and, only when that works, stops the capture thread, swaps the new handle in and
  // starts the thread again, keeping the pipeline: flows, peer table and counts. When the handle
  // cannot be opened (no CAP_NET_RAW once privileges are dropped, no such interface) returns
  // false with `error` and the running capture is untouched. Also restarts a stopped capture.
  bool reopen(const CaptureOptions& capture, std::string& error);

  bool up() const { return up_.load(std::memory_order_relaxed); }
  // Why capture is down ("" while up or before start()): for logs and diagnose's
  // capture-unavailable finding.
  std::string last_error() const;
  // Counts so far; refreshed after every batch the ring hands over (<= timeout old).
  PassiveSnapshot snapshot() const;

 private:
  bool open(std::string& error);
  // pcap_create .. pcap_setfilter for `capture`; nullptr and `error` when a step fails.
  static pcap_t* open_handle(const CaptureOptions& capture, LinkType& link, std::string& error);
  // Makes an opened handle the capture's (the capture thread is not running or is the caller).
  void adopt(pcap_t* handle, LinkType link);
  void close_handle();
  void start_thread();
  // Joins the capture thread and closes the handle; connwatch_capture_up is left as it is.
  void halt();
  // On the capture thread: applies what reconfigure() handed over.
  void apply_pending();
  void run(std::stop_token stop);
  static void on_packet(u_char* user, const pcap_pkthdr* header, const u_char* data);
  void read_stats();
  void publish();
  void set_down(const std::string& error);
  void refresh_local_addresses();

  CaptureOptions capture_;
  FlowTrackerOptions tracker_options_;

  mutable std::mutex handle_mutex_;  // guards handle_ against stop()'s pcap_breakloop
  pcap_t* handle_ = nullptr;
  std::condition_variable_any wake_;

  std::atomic<bool> up_{false};
  bool warned_ = false;  // one warning per outage
  // NFLOG handles (pcap-netfilter-linux) block in recv() whatever the timeout and ignore
  // pcap_breakloop (and libpcap 1.10 reports EAGAIN as an error in non-blocking mode): they are
  // read only once poll(), bounded by capture_.timeout, says a message is there.
  bool poll_first_ = false;
  std::uint64_t last_ps_drop_ = 0;
  std::uint64_t last_ps_ifdrop_ = 0;

  mutable std::mutex published_mutex_;
  PassiveSnapshot published_;
  std::string last_error_;

  // reconfigure() hands options to the capture thread here.
  std::mutex reconfigure_mutex_;
  std::condition_variable reconfigure_done_;
  std::optional<FlowTrackerOptions> pending_;  // guarded by reconfigure_mutex_
  std::atomic<bool> has_pending_{false};
  bool thread_running_ = false;  // guarded by reconfigure_mutex_: pending_ goes to the thread

  // Owned by the capture thread once it runs (start() uses it before creating the thread).
  std::unique_ptr<PacketPipeline> pipeline_;
  std::jthread thread_;
};

}  // namespace connwatch::passive
