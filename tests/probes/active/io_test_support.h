// Running coroutines to completion on a test's own io_context, with a bound on the time taken.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <optional>

namespace connwatch::active::testing {

// Runs `io` until `done()` or `timeout`; true when done.
inline bool run_until(boost::asio::io_context& io, const std::function<bool()>& done,
                      std::chrono::milliseconds timeout = std::chrono::milliseconds(5000)) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (!done() && std::chrono::steady_clock::now() < until) {
    io.restart();
    io.run_for(std::chrono::milliseconds(5));
  }
  return done();
}

// Runs `io` for `duration` (handlers that are due run; the rest waits).
inline void run_for(boost::asio::io_context& io, std::chrono::milliseconds duration) {
  const auto until = std::chrono::steady_clock::now() + duration;
  while (std::chrono::steady_clock::now() < until) {
    io.restart();
    io.run_for(std::chrono::milliseconds(5));
  }
}

// Spawns `make()` on `io`; the returned optional holds its result once it finished.
template <typename T, typename Make>
std::shared_ptr<std::optional<T>> spawn(boost::asio::io_context& io, Make make) {
  auto result = std::make_shared<std::optional<T>>();
  boost::asio::co_spawn(
      io, [result, make]() -> boost::asio::awaitable<void> { *result = co_await make(); },
      boost::asio::detached);
  return result;
}

}  // namespace connwatch::active::testing
