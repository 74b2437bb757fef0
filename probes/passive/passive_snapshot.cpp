#include "probes/passive/passive_snapshot.h"

#include <nlohmann/json.hpp>
#include <string>

namespace connwatch::passive {

std::uint64_t PassiveSnapshot::resets_total() const {
  std::uint64_t total = 0;
  for (const auto& by_phase : resets) {
    for (const std::uint64_t count : by_phase) total += count;
  }
  return total;
}

std::uint64_t PassiveSnapshot::resets_by_sender(ResetSender sender) const {
  std::uint64_t total = 0;
  for (const std::uint64_t count : resets[index_of(sender)]) total += count;
  return total;
}

std::uint64_t PassiveSnapshot::resets_by_phase(ResetPhase phase) const {
  std::uint64_t total = 0;
  for (const auto& by_phase : resets) total += by_phase[index_of(phase)];
  return total;
}

void accumulate(PassiveSnapshot& total, const PassiveSnapshot& part) {
  total.packets += part.packets;
  total.truncated += part.truncated;
  total.malformed += part.malformed;
  total.not_tcp += part.not_tcp;
  total.duplicates += part.duplicates;
  total.dropped_kernel += part.dropped_kernel;
  total.dropped_interface += part.dropped_interface;
  total.connections += part.connections;
  for (std::size_t i = 0; i < part.resets.size(); ++i) {
    for (std::size_t j = 0; j < part.resets[i].size(); ++j) total.resets[i][j] += part.resets[i][j];
  }
  total.resets_suspected_middlebox += part.resets_suspected_middlebox;
  if (part.last_middlebox_reset) total.last_middlebox_reset = part.last_middlebox_reset;
  for (std::size_t i = 0; i < part.time_wait_entries.size(); ++i) {
    total.time_wait_entries[i] += part.time_wait_entries[i];
  }
  for (std::size_t i = 0; i < part.closes.size(); ++i) total.closes[i] += part.closes[i];
  for (const PeerResets& peer : part.peers) {
    const bool other = peer.peer == "other";
    auto into = total.peers.begin();
    while (into != total.peers.end() && into->peer != peer.peer) ++into;
    if (into == total.peers.end()) {
      // Named peers go before "other", which stays last.
      auto at = total.peers.end();
      if (!other && !total.peers.empty() && total.peers.back().peer == "other") --at;
      into = total.peers.insert(at, PeerResets{peer.peer, {}});
    }
    for (std::size_t i = 0; i < peer.by_sender.size(); ++i) into->by_sender[i] += peer.by_sender[i];
  }
  total.flows += part.flows;
  total.flows_evicted += part.flows_evicted;
  total.flows_expired += part.flows_expired;
}

nlohmann::json to_json(const PassiveSnapshot& snapshot) {
  nlohmann::json by_sender = nlohmann::json::object();
  for (const ResetSender sender : kResetSenders) {
    by_sender[std::string(to_string(sender))] = snapshot.resets_by_sender(sender);
  }
  nlohmann::json by_phase = nlohmann::json::object();
  for (const ResetPhase phase : kResetPhases) {
    by_phase[std::string(to_string(phase))] = snapshot.resets_by_phase(phase);
  }
  nlohmann::json time_wait = nlohmann::json::object();
  for (const TimeWaitSide side : kTimeWaitSides) {
    time_wait[std::string(to_string(side))] = snapshot.time_wait_entries[index_of(side)];
  }
  nlohmann::json closes = nlohmann::json::object();
  for (const CloseHow how : kCloseHows) {
    closes[std::string(to_string(how))] = snapshot.closes[index_of(how)];
  }
  return {
      {"packets", snapshot.packets},
      {"connections", snapshot.connections},
      {"resets",
       {{"total", snapshot.resets_total()}, {"by_sender", by_sender}, {"by_phase", by_phase}}},
      {"time_wait_entries", time_wait},
      {"closes", closes},
      {"malformed", snapshot.malformed},
      {"truncated", snapshot.truncated},
  };
}

void write_summary(std::ostream& out, const PassiveSnapshot& s) {
  out << "packets: " << s.packets << " (truncated " << s.truncated << ", malformed " << s.malformed
      << ", duplicates " << s.duplicates << ")\n";
  out << "connections: " << s.connections << " handshakes seen\n";
  out << "resets: " << s.resets_total() << " (client " << s.resets_by_sender(ResetSender::kClient)
      << ", server " << s.resets_by_sender(ResetSender::kServer) << ", unknown "
      << s.resets_by_sender(ResetSender::kUnknown) << "; handshake "
      << s.resets_by_phase(ResetPhase::kHandshake) << ", established "
      << s.resets_by_phase(ResetPhase::kEstablished) << ", closing "
      << s.resets_by_phase(ResetPhase::kClosing) << ")\n";
  if (s.resets[index_of(ResetSender::kServer)][index_of(ResetPhase::kHandshake)] > 0) {
    out << "  refused (server RST answering a SYN): "
        << s.resets[index_of(ResetSender::kServer)][index_of(ResetPhase::kHandshake)] << "\n";
  }
  if (s.resets_suspected_middlebox > 0) {
    out << "  suspected middlebox (TTL off the flow): " << s.resets_suspected_middlebox << "\n";
  }
  for (const PeerResets& peer : s.peers) {
    if (peer.total() == 0) continue;
    out << "  peer " << peer.peer << ": " << peer.total() << " (client "
        << peer.by_sender[index_of(ResetSender::kClient)] << ", server "
        << peer.by_sender[index_of(ResetSender::kServer)] << ")\n";
  }
  out << "time_wait entries: client " << s.time_wait_entries[index_of(TimeWaitSide::kClient)]
      << ", server " << s.time_wait_entries[index_of(TimeWaitSide::kServer)] << "\n";
  out << "closes: fin " << s.closes[index_of(CloseHow::kFin)] << ", reset "
      << s.closes[index_of(CloseHow::kReset)] << "\n";
  out << "flows: " << s.flows << " tracked, " << s.flows_evicted << " evicted, " << s.flows_expired
      << " expired\n";
}

}  // namespace connwatch::passive
