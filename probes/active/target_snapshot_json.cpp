#include "probes/active/target_snapshot_json.h"

#include <chrono>

namespace connwatch::active {

namespace {

double unix_seconds(std::chrono::system_clock::time_point t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

template <typename Enum, std::size_t N>
nlohmann::json by_label(const std::array<Enum, N>& values,
                        const std::array<std::uint64_t, N>& counts) {
  nlohmann::json out = nlohmann::json::object();
  for (std::size_t i = 0; i < N; ++i) out[std::string(to_string(values[i]))] = counts[i];
  return out;
}

nlohmann::json optional_number(const std::optional<double>& value) {
  return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
}

}  // namespace

nlohmann::json to_json(const ProbeReport& r) {
  return {
      {"started_at", unix_seconds(r.started_at)},
      {"result", to_string(r.result)},
      {"outcome", to_string(r.outcome)},
      {"success", r.success},
      {"http_status", r.http_status},
      {"duration_seconds", r.duration_seconds},
      {"attempts", r.attempts},
      {"retries", r.retries},
      {"stale_resends", r.stale_resends},
      {"retry_delays_seconds", r.retry_delays_seconds},
      {"connection", r.connection_reused ? "reused" : "new"},
      {"peer", r.peer},
      {"error", r.error},
  };
}

nlohmann::json to_json(const TargetSnapshot& s) {
  const auto& c = s.counts;
  nlohmann::json open = nlohmann::json::array();
  for (const auto& o : s.pool.open) {
    open.push_back({{"id", o.id},
                    {"state", to_string(o.state)},
                    {"peer", o.peer},
                    {"age_seconds", o.age_seconds},
                    {"idle_seconds", optional_number(o.idle_seconds)},
                    {"requests", o.requests}});
  }
  nlohmann::json closes = nlohmann::json::array();
  for (const auto& cl : s.pool.recent_closes) {
    closes.push_back({{"id", cl.id},
                      {"reason", to_string(cl.reason)},
                      {"peer", cl.peer},
                      {"age_seconds", cl.age_seconds},
                      {"idle_seconds", optional_number(cl.idle_seconds)},
                      {"requests", cl.requests},
                      {"at", unix_seconds(cl.at)}});
  }
  nlohmann::json pool = {
      {"active", c.active},
      {"idle", c.idle},
      {"opened", c.opened},
      {"closed", by_label(kAllCloseReasons, c.closed)},
      {"requests", {{"new", c.requests_new}, {"reused", c.requests_reused}}},
      {"stale_resets", c.stale_resets},
      {"peer_idle_close_seconds", optional_number(c.peer_idle_close_seconds)},
      {"idle_timeout_seconds", std::chrono::duration<double>(s.pool.idle_timeout).count()},
      {"server_keep_alive_seconds", s.pool.server_keep_alive
                                        ? nlohmann::json(s.pool.server_keep_alive->count())
                                        : nlohmann::json(nullptr)},
      {"connections", open},
      {"recent_closes", closes},
  };
  return {
      {"name", s.name},
      {"url", s.url},
      {"kind", s.kind},
      {"interval_seconds", s.interval_seconds},
      {"running", s.running},
      {"skipped", s.skipped},
      {"probes", c.probes},
      {"last", s.last ? to_json(*s.last) : nlohmann::json(nullptr)},
      {"attempts", by_label(kAllOutcomes, c.attempts)},
      {"results", by_label(kAllProbeResults, c.results)},
      {"retries", c.retries},
      {"pool", pool},
      {"dns", {{"resolutions", c.dns_resolutions}, {"address_changes", c.dns_address_changes}}},
      {"addresses", s.addresses},
      {"tcp",
       {{"rtt_seconds", optional_number(c.tcp_rtt_seconds)}, {"retransmits", c.tcp_retransmits}}},
  };
}

}  // namespace connwatch::active
