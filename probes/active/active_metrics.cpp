#include "probes/active/active_metrics.h"

#include <algorithm>

namespace connwatch::active {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

double seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

}  // namespace

ActiveMetrics::ActiveMetrics(prometheus::Registry& registry)
    : probe_success(BuildGauge()
                        .Name("connwatch_probe_success")
                        .Help("Whether the last probe of the target succeeded (1) or not (0)")
                        .Register(registry)),
      probe_duration(BuildHistogram()
                         .Name("connwatch_probe_duration_seconds")
                         .Help("Duration of a whole probe, retries and their delays included")
                         .Register(registry)),
      phase_duration(
          BuildHistogram()
              .Name("connwatch_probe_phase_duration_seconds")
              .Help("Duration of one phase of one attempt; connect and tls only when the "
                    "attempt opened a new connection")
              .Register(registry)),
      attempts(BuildCounter()
                   .Name("connwatch_probe_attempts_total")
                   .Help("Probe attempts by how they ended")
                   .Register(registry)),
      results(BuildCounter()
                  .Name("connwatch_probe_results_total")
                  .Help("Probes by how they ended after retries")
                  .Register(registry)),
      retries(BuildCounter()
                  .Name("connwatch_probe_retries_total")
                  .Help("Retries of failed attempts")
                  .Register(registry)),
      http_status_code(BuildGauge()
                           .Name("connwatch_probe_http_status_code")
                           .Help("HTTP status of the last response, 0 when none arrived")
                           .Register(registry)),
      pool_connections(BuildGauge()
                           .Name("connwatch_pool_connections")
                           .Help("Pooled connections: active (connecting or in use) and idle")
                           .Register(registry)),
      pool_opened(BuildCounter()
                      .Name("connwatch_pool_connections_opened_total")
                      .Help("Connections the pool opened (TCP handshake completed)")
                      .Register(registry)),
      pool_closed(BuildCounter()
                      .Name("connwatch_pool_connections_closed_total")
                      .Help("Connections the pool closed, by reason")
                      .Register(registry)),
      pool_requests(BuildCounter()
                        .Name("connwatch_pool_requests_total")
                        .Help("Requests by whether their connection was new or reused")
                        .Register(registry)),
      pool_stale_resets(BuildCounter()
                            .Name("connwatch_pool_stale_resets_total")
                            .Help("Reset or EOF on a reused connection before any response byte; "
                                  "resent at once on a new connection")
                            .Register(registry)),
      pool_peer_idle_close(BuildGauge()
                               .Name("connwatch_pool_peer_idle_close_seconds")
                               .Help("Shortest idle time after which the peer closed a pooled "
                                     "connection")
                               .Register(registry)),
      dns_resolutions(BuildCounter()
                          .Name("connwatch_dns_resolutions_total")
                          .Help("DNS resolutions of the target's host name")
                          .Register(registry)),
      dns_address_changes(BuildCounter()
                              .Name("connwatch_dns_address_changes_total")
                              .Help("Resolutions whose address set differed from the previous one")
                              .Register(registry)),
      probe_tcp_rtt(BuildGauge()
                        .Name("connwatch_probe_tcp_rtt_seconds")
                        .Help("Smoothed RTT (TCP_INFO tcpi_rtt) of the connection the target's "
                              "last attempt used")
                        .Register(registry)),
      probe_tcp_retransmits(BuildCounter()
                                .Name("connwatch_probe_tcp_retransmits_total")
                                .Help("Segments the target's probe connections retransmitted "
                                      "(TCP_INFO tcpi_total_retrans, SYNs included)")
                                .Register(registry)) {}

const prometheus::Histogram::BucketBoundaries& ActiveMetrics::buckets() {
  static const prometheus::Histogram::BucketBoundaries kBuckets{
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
      0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
  return kBuckets;
}

TargetMetrics::TargetMetrics(ActiveMetrics& families, std::string target)
    : families_(families), target_(std::move(target)) {
  const prometheus::Labels t{{"target", target_}};
  duration_ = &families_.probe_duration.Add(t, ActiveMetrics::buckets());
  for (const Phase p : kAllPhases) {
    phases_[index_of(p)] = &families_.phase_duration.Add(
        {{"target", target_}, {"phase", std::string(to_string(p))}}, ActiveMetrics::buckets());
  }
  for (const Outcome o : kAllOutcomes) {
    attempts_[index_of(o)] =
        &families_.attempts.Add({{"target", target_}, {"outcome", std::string(to_string(o))}});
  }
  for (const ProbeResult r : kAllProbeResults) {
    results_[index_of(r)] =
        &families_.results.Add({{"target", target_}, {"result", std::string(to_string(r))}});
  }
  retries_ = &families_.retries.Add(t);
  active_ = &families_.pool_connections.Add({{"target", target_}, {"state", "active"}});
  idle_ = &families_.pool_connections.Add({{"target", target_}, {"state", "idle"}});
  opened_ = &families_.pool_opened.Add(t);
  for (const CloseReason r : kAllCloseReasons) {
    closed_[index_of(r)] =
        &families_.pool_closed.Add({{"target", target_}, {"reason", std::string(to_string(r))}});
  }
  requests_new_ = &families_.pool_requests.Add({{"target", target_}, {"connection", "new"}});
  requests_reused_ = &families_.pool_requests.Add({{"target", target_}, {"connection", "reused"}});
  stale_resets_ = &families_.pool_stale_resets.Add(t);
  dns_resolutions_ = &families_.dns_resolutions.Add(t);
  dns_changes_ = &families_.dns_address_changes.Add(t);
  tcp_retransmits_ = &families_.probe_tcp_retransmits.Add(t);
}

void TargetMetrics::remove_series() {
  if (!attached_) return;
  attached_ = false;
  families_.probe_duration.Remove(duration_);
  for (auto* h : phases_) families_.phase_duration.Remove(h);
  for (auto* c : attempts_) families_.attempts.Remove(c);
  for (auto* c : results_) families_.results.Remove(c);
  families_.retries.Remove(retries_);
  families_.pool_connections.Remove(active_);
  families_.pool_connections.Remove(idle_);
  families_.pool_opened.Remove(opened_);
  for (auto* c : closed_) families_.pool_closed.Remove(c);
  families_.pool_requests.Remove(requests_new_);
  families_.pool_requests.Remove(requests_reused_);
  families_.pool_stale_resets.Remove(stale_resets_);
  families_.dns_resolutions.Remove(dns_resolutions_);
  families_.dns_address_changes.Remove(dns_changes_);
  families_.probe_tcp_retransmits.Remove(tcp_retransmits_);
  if (tcp_rtt_ != nullptr) families_.probe_tcp_rtt.Remove(tcp_rtt_);
  if (success_ != nullptr) families_.probe_success.Remove(success_);
  if (status_code_ != nullptr) families_.http_status_code.Remove(status_code_);
  if (peer_idle_ != nullptr) families_.pool_peer_idle_close.Remove(peer_idle_);
}

void TargetMetrics::attempt(Outcome outcome) {
  ++counts_.attempts[index_of(outcome)];
  if (attached_) attempts_[index_of(outcome)]->Increment();
}

void TargetMetrics::phase(Phase p, std::chrono::steady_clock::duration elapsed) {
  if (attached_) phases_[index_of(p)]->Observe(seconds(elapsed));
}

void TargetMetrics::probe(std::chrono::steady_clock::duration elapsed, bool success,
                          ProbeResult result, std::optional<int> http_status) {
  ++counts_.probes;
  ++counts_.results[index_of(result)];
  if (!attached_) return;
  duration_->Observe(seconds(elapsed));
  results_[index_of(result)]->Increment();
  if (success_ == nullptr) success_ = &families_.probe_success.Add({{"target", target_}});
  success_->Set(success ? 1 : 0);
  if (http_status) {
    if (status_code_ == nullptr) {
      status_code_ = &families_.http_status_code.Add({{"target", target_}});
    }
    status_code_->Set(*http_status);
  }
}

void TargetMetrics::retry() {
  ++counts_.retries;
  if (attached_) retries_->Increment();
}

void TargetMetrics::pool_connections(int active, int idle) {
  counts_.active = active;
  counts_.idle = idle;
  if (!attached_) return;
  active_->Set(active);
  idle_->Set(idle);
}

void TargetMetrics::connection_opened() {
  ++counts_.opened;
  if (attached_) opened_->Increment();
}

void TargetMetrics::connection_closed(CloseReason reason) {
  ++counts_.closed[index_of(reason)];
  if (attached_) closed_[index_of(reason)]->Increment();
}

void TargetMetrics::request(bool reused) {
  ++(reused ? counts_.requests_reused : counts_.requests_new);
  if (attached_) (reused ? requests_reused_ : requests_new_)->Increment();
}

void TargetMetrics::stale_reset() {
  ++counts_.stale_resets;
  if (attached_) stale_resets_->Increment();
}

void TargetMetrics::peer_idle_close(double idle_seconds) {
  const double shortest = counts_.peer_idle_close_seconds
                              ? std::min(*counts_.peer_idle_close_seconds, idle_seconds)
                              : idle_seconds;
  counts_.peer_idle_close_seconds = shortest;
  if (!attached_) return;
  if (peer_idle_ == nullptr)
    peer_idle_ = &families_.pool_peer_idle_close.Add({{"target", target_}});
  peer_idle_->Set(shortest);
}

void TargetMetrics::dns_resolution() {
  ++counts_.dns_resolutions;
  if (attached_) dns_resolutions_->Increment();
}

void TargetMetrics::dns_address_change() {
  ++counts_.dns_address_changes;
  if (attached_) dns_changes_->Increment();
}

void TargetMetrics::tcp_info(std::optional<double> rtt_seconds, std::uint32_t retransmits_added) {
  counts_.tcp_retransmits += retransmits_added;
  if (rtt_seconds) counts_.tcp_rtt_seconds = rtt_seconds;
  if (!attached_) return;
  if (retransmits_added > 0) tcp_retransmits_->Increment(retransmits_added);
  if (rtt_seconds) {
    if (tcp_rtt_ == nullptr) tcp_rtt_ = &families_.probe_tcp_rtt.Add({{"target", target_}});
    tcp_rtt_->Set(*rtt_seconds);
  }
}

}  // namespace connwatch::active
