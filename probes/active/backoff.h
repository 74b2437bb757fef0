// Delays between retries (TCP-NOTES §6, after the AWS architecture blog's backoff simulator):
//   expo = min(max_delay, base_delay * 2^n) for retry n = 0, 1, ...
//   none: expo;  full: rand(0, expo);  equal: expo/2 + rand(0, expo/2);
//   decorrelated: sleep = min(max_delay, rand(base_delay, 3 * previous sleep)), first sleep = base.
// Pure: the random source is injected, so tests can pin every draw.
#pragma once

#include <chrono>
#include <functional>

#include "config/config.h"

namespace connwatch::active {

class Backoff {
 public:
  using Delay = std::chrono::microseconds;
  // Returns a uniform double in [0, 1).
  using Random = std::function<double()>;

  Backoff(config::Duration base_delay, config::Duration max_delay, config::Jitter jitter,
          Random random = default_random());

  // The delay before the next retry of the current probe; retries are numbered from 0.
  Delay next();
  // A new logical probe starts: the next delay is retry 0's again.
  void reset();

  int retries_drawn() const { return retries_; }

  // The inclusive range next() can return for retry `n` (for decorrelated jitter, given the
  // previous delay; `previous` is ignored by the other kinds).
  struct Bounds {
    Delay low;
    Delay high;
  };
  Bounds bounds(int n, Delay previous) const;

  // A process-wide Mersenne Twister seeded from std::random_device.
  static Random default_random();

 private:
  double exponential_ms(int n) const;

  double base_ms_;
  double max_ms_;
  config::Jitter jitter_;
  Random random_;
  int retries_ = 0;
  double previous_ms_;
};

}  // namespace connwatch::active
