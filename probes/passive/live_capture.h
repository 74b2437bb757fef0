// LiveCapture: captures SYN/FIN/RST segments from an interface on its own thread (or
// capture.threads threads) and feeds them through a PacketPipeline into PassiveMetrics.
//
// The capture is opened the way TCP-NOTES §4 recommends: TPACKET_V3 ring (so NOT immediate
// mode, which falls back to V2), pcap_set_timeout 250 ms so blocks are handed over when sparse,
// a 32 MiB buffer, snaplen 128, and SLL2 on "any" (ifindex + pkttype for direction). When the
// capture cannot be opened or fails later (no CAP_NET_RAW, no such interface, interface deleted)
// it logs one warning, sets connwatch_capture_up to 0, and retries with exponential backoff until
// it works again; the agent keeps running.
//
// A config reload changes a running capture without losing its flows, peer table or counts:
// reconfigure() for what needs no new handle, reopen() for what does (interface, buffer size,
// threads).
//
// Several threads (capture.threads = N > 1): N handles on the same interface, each on its own
// thread with its own PacketPipeline, whose sockets (pcap_fileno) form one PACKET_FANOUT group
// (packet_fanout.h): the kernel hashes each packet's flow symmetrically (fanout_demux_hash in
// net/packet/af_packet.c), so both directions of a connection reach one thread and its tracker,
// and each packet reaches exactly one socket. The counts are those of one thread: every counter
// is a sum over the pipelines, the flows gauge is the sum of their flows (each tracks
// max_flows / N), the per-peer series come from one PeerResetCounts all threads share (one
// top-K), and snapshot() adds the threads' counts up (accumulate()). Exact only on a named
// interface: on "any" a forwarded or NATed packet is captured once per interface it crosses,
// under other tuples that hash to other threads, where the tracker's DuplicateFilter could no
// longer pair them; NFLOG is no packet socket. So N > 1 needs a named, non-NFLOG interface (the
// config loader refuses the rest; open fails here too). Each thread's ring is buffer_size bytes.
//
// A socket receives every packet from its activation until it joins the group, which the group
// delivers too: a thread ignores the packets stamped before its socket joined (and, after a
// reopen() on the same interface, up to the newest packet the old threads counted), so the setup
// window counts nothing twice.
// After an outage the threads rejoin one by one; until all are back, the members there take
// every flow, and a flow that changes thread is picked up mid-stream like after a restart.
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
#include <vector>

#include "probes/passive/flow_tracker.h"
#include "probes/passive/link_type.h"
#include "probes/passive/packet_pipeline.h"
#include "probes/passive/passive_metrics.h"
#include "probes/passive/passive_snapshot.h"
#include "probes/passive/peer_reset_counts.h"

namespace connwatch::passive {

struct CaptureOptions {
  std::string interface = "any";
  int snaplen = 128;                   // SLL2(20) + IPv4(60) + TCP flags: always enough
  int buffer_size = 32 * 1024 * 1024;  // bytes; libpcap's default ring is only 2 MiB
  std::chrono::milliseconds timeout{250};
  std::chrono::milliseconds retry_initial{1000};
  std::chrono::milliseconds retry_max{30000};
  // Capture threads, each with its own handle and flow tracker (capture.threads, 1..64); above 1
  // the handles share the packets through PACKET_FANOUT and the interface must be a named one.
  int threads = 1;
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
  // Stops the threads (pcap_breakloop); returns within about one pcap timeout. Sets
  // connwatch_capture_up to 0.
  void stop();

  // Applies reloaded tracker options (ports, max_flows, flow_idle_timeout, max_peers) in place:
  // same handle, same flows and peer table, no count reset (PacketPipeline::reconfigure). The
  // capture thread applies them between two batches (woken with pcap_breakloop); returns once
  // they are applied. Needs no privilege. Not concurrent with start/stop/reopen.
  void reconfigure(const FlowTrackerOptions& tracker);

  // Opens every handle for `capture` (another interface, buffer size, snaplen or thread count)
  // on the calling thread and, only when all of them work, stops the capture threads, swaps the
  // new handles in and starts the threads again, keeping the pipelines: flows, peer table and
  // counts. A different thread count starts new pipelines (new, empty flow tables of
  // max_flows / N: flows in progress are picked up mid-stream); the counts so far are kept.
  // When a handle cannot be opened (no CAP_NET_RAW once privileges are dropped, no such
  // interface, fanout refused) returns false with `error` and the running capture is untouched.
  // Also restarts a stopped capture.
  bool reopen(const CaptureOptions& capture, std::string& error);

  // Whether every capture thread has its handle.
  bool up() const { return up_.load(std::memory_order_relaxed); }
  // Capture threads (capture.threads of the running capture).
  std::size_t threads() const { return lanes_.size(); }
  // Why capture is down ("" while up or before start()): for logs and diagnose's
  // capture-unavailable finding.
  std::string last_error() const;
  // Counts so far, all threads added up; refreshed after every batch a ring hands over
  // (<= timeout old).
  PassiveSnapshot snapshot() const;

 private:
  // One capture thread: its handle and pipeline.
  struct Lane {
    std::size_t index = 0;
    std::unique_ptr<PacketPipeline> pipeline;
    pcap_t* handle = nullptr;  // written under handle_mutex_; read by its thread
    bool poll_first = false;   // NFLOG, see run()
    // Packets stamped before this are ignored: they reached this socket before it joined the
    // fanout group (or the old capture had them), so another thread counted them.
    PacketTime ignore_before{};
    std::uint64_t last_ps_drop = 0;
    std::uint64_t last_ps_ifdrop = 0;
    PacketTime last_packet{};   // the newest packet counted (read by reopen() after a halt)
    bool up = false;            // guarded by published_mutex_
    std::uint64_t applied = 0;  // the reconfigure serial applied; guarded by reconfigure_mutex_
    PassiveSnapshot published;  // guarded by published_mutex_; peers left out (shared)
    std::jthread thread;
  };
  struct Opened {
    pcap_t* handle = nullptr;
    LinkType link = LinkType::kLinuxSll2;
    PacketTime joined{};  // when it joined the fanout group (0: first member or one thread)
  };

  // Opens capture.threads handles and joins them, in order, to a new fanout group (`group`); on
  // failure closes what it opened and returns false with `error`.
  static bool open_handles(const CaptureOptions& capture, std::vector<Opened>& opened,
                           std::uint16_t& group, std::string& error);
  // pcap_create .. pcap_setfilter for `capture`; nullptr and `error` when a step fails.
  static pcap_t* open_handle(const CaptureOptions& capture, LinkType& link, std::string& error);
  // Reopens one lane's handle after a failure (its thread), rejoining the group.
  bool open_lane(Lane& lane, std::string& error);
  // Makes an opened handle the lane's (its thread is not running or is the caller).
  void adopt(Lane& lane, pcap_t* handle, LinkType link);
  void close_handle(Lane& lane);
  // New lanes with new pipelines for `threads` (none running); the old ones' counts are kept.
  void make_lanes(std::size_t threads);
  void start_threads();
  // Joins the capture threads and closes the handles; connwatch_capture_up is left as it is.
  void halt();
  // On a lane's thread: applies what reconfigure() handed over.
  void apply_pending(Lane& lane);
  void run(Lane& lane, std::stop_token stop);
  static void on_packet(u_char* user, const pcap_pkthdr* header, const u_char* data);
  void read_stats(Lane& lane);
  void publish(Lane& lane);
  void set_up(Lane& lane);
  void set_down(Lane& lane, const std::string& error);
  void update_up_locked();  // from the lanes' flags; published_mutex_ held
  void refresh_local_addresses(Lane& lane);
  std::string thread_name(const Lane& lane) const;

  CaptureOptions capture_;
  FlowTrackerOptions tracker_options_;
  PassiveMetrics* metrics_;
  std::shared_ptr<PeerResetCounts> peers_;

  mutable std::mutex handle_mutex_;  // guards the lanes' handles against pcap_breakloop
  std::condition_variable_any wake_;

  std::mutex fanout_mutex_;
  std::optional<std::uint16_t> group_;  // the fanout group of the running handles (threads > 1)

  std::atomic<bool> up_{false};

  mutable std::mutex published_mutex_;
  bool warned_ = false;  // one warning per outage
  std::string last_error_;
  // Counts of pipelines replaced when the thread count changed (flows 0: they are gone).
  PassiveSnapshot retired_;

  // reconfigure() hands options to the capture threads here.
  std::mutex reconfigure_mutex_;
  std::condition_variable reconfigure_done_;
  std::optional<FlowTrackerOptions> pending_;  // guarded by reconfigure_mutex_
  std::atomic<std::uint64_t> pending_serial_{0};
  bool threads_running_ = false;  // guarded by reconfigure_mutex_: pending_ goes to the threads

  // Each lane is owned by its thread once it runs; the vector changes only while none runs.
  std::vector<std::unique_ptr<Lane>> lanes_;
};

}  // namespace connwatch::passive
