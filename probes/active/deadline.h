// A per-phase deadline for coroutine I/O on Asio 1.18, which has no awaitable operators: a
// steady_timer that runs `on_expiry` (close the socket, cancel the resolver) once the time is up,
// so the pending operation completes with an error the caller then reports as a timeout.
// Destroying the Deadline disarms it, also when its expiry is already queued.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>

namespace connwatch::active {

class Deadline {
 public:
  Deadline(const boost::asio::any_io_executor& executor,
           std::chrono::steady_clock::duration timeout, std::function<void()> on_expiry);
  ~Deadline();
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;

  bool expired() const { return state_->expired; }

 private:
  struct State {
    bool armed = true;
    bool expired = false;
    std::function<void()> on_expiry;
  };
  std::shared_ptr<State> state_;
  boost::asio::steady_timer timer_;
};

}  // namespace connwatch::active
