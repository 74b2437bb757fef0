#include "exporters/connection_table.h"

#include <tuple>
#include <utility>

namespace connwatch::exporters {

std::string_view to_string(ConnPhase phase) {
  switch (phase) {
    case ConnPhase::kHandshake:
      return "handshake";
    case ConnPhase::kReadingHeader:
      return "reading_header";
    case ConnPhase::kReadingBody:
      return "reading_body";
    case ConnPhase::kWriting:
      return "writing";
    case ConnPhase::kIdle:
      return "idle";
  }
  return "idle";
}

std::string_view to_string(ConnEvent event) {
  switch (event) {
    case ConnEvent::kHandshakeDone:
      return "handshake_done";
    case ConnEvent::kHeaderRead:
      return "header_read";
    case ConnEvent::kRequestRead:
      return "request_read";
    case ConnEvent::kResponseWritten:
      return "response_written";
    case ConnEvent::kFirstByte:
      return "first_byte";
  }
  return "first_byte";
}

ConnPhase next_phase(ConnPhase phase, ConnEvent event) {
  switch (phase) {
    case ConnPhase::kHandshake:
      return event == ConnEvent::kHandshakeDone ? ConnPhase::kReadingHeader : phase;
    case ConnPhase::kReadingHeader:
      return event == ConnEvent::kHeaderRead ? ConnPhase::kReadingBody : phase;
    case ConnPhase::kReadingBody:
      return event == ConnEvent::kRequestRead ? ConnPhase::kWriting : phase;
    case ConnPhase::kWriting:
      return event == ConnEvent::kResponseWritten ? ConnPhase::kIdle : phase;
    case ConnPhase::kIdle:
      return event == ConnEvent::kFirstByte ? ConnPhase::kReadingHeader : phase;
  }
  return phase;
}

bool evictable(ConnPhase phase) { return phase != ConnPhase::kWriting; }

std::optional<ConnectionTable::Id> ConnectionTable::admit(ConnPhase phase, Closer close,
                                                          Clock::time_point now) {
  if (connections_.size() >= limit_) {
    // The victim: never served a request before served one, then longest in its phase.
    auto victim = connections_.end();
    for (auto it = connections_.begin(); it != connections_.end(); ++it) {
      if (!evictable(it->second.phase)) continue;
      if (victim == connections_.end() ||
          std::make_tuple(it->second.requests_served > 0, it->second.since) <
              std::make_tuple(victim->second.requests_served > 0, victim->second.since)) {
        victim = it;
      }
    }
    if (victim == connections_.end()) {
      ++refused_;
      return std::nullopt;
    }
    Closer victim_close = std::move(victim->second.close);
    connections_.erase(victim);
    ++evicted_;
    if (victim_close) victim_close();
  }
  const Id id = next_id_++;
  connections_.emplace(id, Entry{phase, now, 0, std::move(close)});
  return id;
}

void ConnectionTable::on(Id id, ConnEvent event, Clock::time_point now) {
  const auto it = connections_.find(id);
  if (it == connections_.end()) return;
  Entry& entry = it->second;
  const ConnPhase next = next_phase(entry.phase, event);
  if (next == entry.phase) return;
  if (event == ConnEvent::kResponseWritten) ++entry.requests_served;
  entry.phase = next;
  entry.since = now;
}

void ConnectionTable::remove(Id id) { connections_.erase(id); }

void ConnectionTable::close_all() {
  auto connections = std::exchange(connections_, {});
  for (auto& [id, entry] : connections) {
    if (entry.close) entry.close();
  }
}

std::optional<ConnPhase> ConnectionTable::phase(Id id) const {
  const auto it = connections_.find(id);
  if (it == connections_.end()) return std::nullopt;
  return it->second.phase;
}

}  // namespace connwatch::exporters
