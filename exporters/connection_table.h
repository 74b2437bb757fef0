// The HTTP server's open connections, each in one phase, and who gives way at the limit.
//
// A connection that has not sent a whole request, or sits idle between requests, holds a slot
// without doing anything for anyone; one that is writing a response is doing work. At the limit
// a new connection takes the slot of the connection that has waited longest in a waiting phase
// (one that never completed a request before one that did), so slow or idle clients cannot lock
// Prometheus out (issue 21: slowloris). Only when every connection is writing is a new one
// refused. The deadlines that bound each phase are the server's (http_server.cpp); this table
// only orders and evicts.
//
// Phases and events (one transition function, next_phase):
//
//   kHandshake   --kHandshakeDone-->   kReadingHeader   (TLS only; plain HTTP starts reading)
//   kReadingHeader --kHeaderRead-->    kReadingBody
//   kReadingBody --kRequestRead-->     kWriting
//   kWriting     --kResponseWritten--> kIdle            (requests_served + 1)
//   kIdle        --kFirstByte-->       kReadingHeader   (the next request has begun)
//
// Any other (phase, event) pair is a bug in the caller and leaves the phase as it is.
// Not thread-safe: the server uses it from its io_context's one thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string_view>

namespace connwatch::exporters {

enum class ConnPhase { kHandshake, kReadingHeader, kReadingBody, kWriting, kIdle };
std::string_view to_string(ConnPhase phase);

enum class ConnEvent { kHandshakeDone, kHeaderRead, kRequestRead, kResponseWritten, kFirstByte };
std::string_view to_string(ConnEvent event);

ConnPhase next_phase(ConnPhase phase, ConnEvent event);
// Whether a connection in this phase may be closed to make room (every phase but kWriting).
bool evictable(ConnPhase phase);

class ConnectionTable {
 public:
  using Clock = std::chrono::steady_clock;
  using Id = std::uint64_t;
  // Closes the connection's socket; its session then ends and calls remove().
  using Closer = std::function<void()>;

  explicit ConnectionTable(std::size_t limit) : limit_(limit) {}

  // Registers a new connection in `phase`. At the limit, first closes and forgets the connection
  // that gives way (see the header comment). nullopt: the table is full of connections writing
  // responses, and the new one must be refused.
  std::optional<Id> admit(ConnPhase phase, Closer close, Clock::time_point now = Clock::now());
  // Applies an event to a connection still in the table (evicted ones are ignored).
  void on(Id id, ConnEvent event, Clock::time_point now = Clock::now());
  void remove(Id id);
  // Closes every connection and forgets them (server stop).
  void close_all();

  std::size_t size() const { return connections_.size(); }
  std::size_t limit() const { return limit_; }
  std::uint64_t evicted() const { return evicted_; }
  std::uint64_t refused() const { return refused_; }
  std::optional<ConnPhase> phase(Id id) const;

 private:
  struct Entry {
    ConnPhase phase;
    Clock::time_point since;  // when it entered `phase`
    std::uint64_t requests_served = 0;
    Closer close;
  };
  std::size_t limit_;
  Id next_id_ = 1;
  std::map<Id, Entry> connections_;
  std::uint64_t evicted_ = 0;
  std::uint64_t refused_ = 0;
};

}  // namespace connwatch::exporters
