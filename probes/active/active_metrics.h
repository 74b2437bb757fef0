// The active-probe families of SPEC §4, registered in a prometheus::Registry at construction
// (registration may throw: startup only), and TargetMetrics: one target's series, handed to the
// hot path as plain references, with the same counts mirrored as numbers for snapshots.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "probes/active/close_reason.h"
#include "probes/active/outcome.h"
#include "probes/active/target_counts.h"

namespace connwatch::active {

class ActiveMetrics {
 public:
  explicit ActiveMetrics(prometheus::Registry& registry);
  ActiveMetrics(const ActiveMetrics&) = delete;
  ActiveMetrics& operator=(const ActiveMetrics&) = delete;

  // SPEC §4: from 100 µs to 10 s.
  static const prometheus::Histogram::BucketBoundaries& buckets();

  prometheus::Family<prometheus::Gauge>& probe_success;
  prometheus::Family<prometheus::Histogram>& probe_duration;
  prometheus::Family<prometheus::Histogram>& phase_duration;
  prometheus::Family<prometheus::Counter>& attempts;
  prometheus::Family<prometheus::Counter>& results;
  prometheus::Family<prometheus::Counter>& retries;
  prometheus::Family<prometheus::Gauge>& http_status_code;
  prometheus::Family<prometheus::Gauge>& pool_connections;
  prometheus::Family<prometheus::Counter>& pool_opened;
  prometheus::Family<prometheus::Counter>& pool_closed;
  prometheus::Family<prometheus::Counter>& pool_requests;
  prometheus::Family<prometheus::Counter>& pool_stale_resets;
  prometheus::Family<prometheus::Gauge>& pool_peer_idle_close;
  prometheus::Family<prometheus::Counter>& dns_resolutions;
  prometheus::Family<prometheus::Counter>& dns_address_changes;
  prometheus::Family<prometheus::Gauge>& probe_tcp_rtt;
  prometheus::Family<prometheus::Counter>& probe_tcp_retransmits;
};

class TargetMetrics {
 public:
  // Creates every series of `target` whose value means something before the first probe: the
  // counters at 0 (so rate() works from the first scrape) and the pool gauges. probe_success,
  // http_status_code and peer_idle_close_seconds appear once there is something to say.
  TargetMetrics(ActiveMetrics& families, std::string target);
  TargetMetrics(const TargetMetrics&) = delete;
  TargetMetrics& operator=(const TargetMetrics&) = delete;

  // Removes every series of this target (the target left the config). Later updates only touch
  // the mirrored counts.
  void remove_series();
  // Keeps the series but stops touching them (shutdown: the registry may go away first).
  void detach() { attached_ = false; }

  void attempt(Outcome outcome);
  void phase(Phase phase, std::chrono::steady_clock::duration elapsed);
  void probe(std::chrono::steady_clock::duration elapsed, bool success, ProbeResult result,
             std::optional<int> http_status);
  void retry();
  void pool_connections(int active, int idle);
  void connection_opened();
  void connection_closed(CloseReason reason);
  void request(bool reused);
  void stale_reset();
  void peer_idle_close(double idle_seconds);
  void dns_resolution();
  void dns_address_change();
  // One reading of a probe connection's TCP_INFO: its smoothed RTT in seconds (none before the
  // first RTT sample) and the segments it retransmitted since the previous reading.
  void tcp_info(std::optional<double> rtt_seconds, std::uint32_t retransmits_added);

  const TargetCounts& counts() const { return counts_; }
  const std::string& target() const { return target_; }

 private:
  template <typename T>
  struct Series {
    prometheus::Family<T>* family = nullptr;
    T* metric = nullptr;
  };

  ActiveMetrics& families_;
  std::string target_;
  bool attached_ = true;
  TargetCounts counts_;

  prometheus::Histogram* duration_;
  std::array<prometheus::Histogram*, kAllPhases.size()> phases_{};
  std::array<prometheus::Counter*, kAllOutcomes.size()> attempts_{};
  std::array<prometheus::Counter*, kAllProbeResults.size()> results_{};
  prometheus::Counter* retries_;
  prometheus::Gauge* active_;
  prometheus::Gauge* idle_;
  prometheus::Counter* opened_;
  std::array<prometheus::Counter*, kAllCloseReasons.size()> closed_{};
  prometheus::Counter* requests_new_;
  prometheus::Counter* requests_reused_;
  prometheus::Counter* stale_resets_;
  prometheus::Counter* dns_resolutions_;
  prometheus::Counter* dns_changes_;
  prometheus::Counter* tcp_retransmits_;
  prometheus::Gauge* tcp_rtt_ = nullptr;      // lazily, at the first RTT sample
  prometheus::Gauge* success_ = nullptr;      // lazily, at the first probe
  prometheus::Gauge* status_code_ = nullptr;  // lazily, at the first HTTP status
  prometheus::Gauge* peer_idle_ = nullptr;    // lazily, at the first peer close of an idle conn
};

}  // namespace connwatch::active
