#include "probes/active/backoff.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>

namespace connwatch::active {
namespace {

Backoff::Delay to_delay(double ms) {
  return Backoff::Delay(static_cast<Backoff::Delay::rep>(std::llround(std::max(0.0, ms) * 1000.0)));
}

double between(double low, double high, double unit) {
  if (high < low) return low;
  return low + (high - low) * std::clamp(unit, 0.0, 1.0);
}

}  // namespace

Backoff::Backoff(config::Duration base_delay, config::Duration max_delay, config::Jitter jitter,
                 Random random)
    : base_ms_(static_cast<double>(std::max(base_delay.count(), config::Duration::rep{0}))),
      max_ms_(static_cast<double>(std::max(max_delay.count(), config::Duration::rep{0}))),
      jitter_(jitter),
      random_(random ? std::move(random) : default_random()),
      previous_ms_(base_ms_) {}

double Backoff::exponential_ms(int n) const {
  // 2^n overflows nothing in double until n ~ 1000; the cap applies long before.
  return std::min(max_ms_, base_ms_ * std::exp2(std::min(n, 1000)));
}

Backoff::Delay Backoff::next() {
  const int n = retries_++;
  const double expo = exponential_ms(n);
  double ms = expo;
  switch (jitter_) {
    case config::Jitter::kNone:
      ms = expo;
      break;
    case config::Jitter::kFull:
      ms = between(0.0, expo, random_());
      break;
    case config::Jitter::kEqual:
      ms = expo / 2.0 + between(0.0, expo / 2.0, random_());
      break;
    case config::Jitter::kDecorrelated:
      ms = std::min(max_ms_, between(base_ms_, 3.0 * previous_ms_, random_()));
      break;
  }
  previous_ms_ = ms;
  return to_delay(ms);
}

void Backoff::reset() {
  retries_ = 0;
  previous_ms_ = base_ms_;
}

Backoff::Bounds Backoff::bounds(int n, Delay previous) const {
  const double expo = exponential_ms(n);
  switch (jitter_) {
    case config::Jitter::kNone:
      return {to_delay(expo), to_delay(expo)};
    case config::Jitter::kFull:
      return {Delay(0), to_delay(expo)};
    case config::Jitter::kEqual:
      return {to_delay(expo / 2.0), to_delay(expo)};
    case config::Jitter::kDecorrelated: {
      const double previous_ms = n == 0 ? base_ms_ : static_cast<double>(previous.count()) / 1000.0;
      const double high = std::max(base_ms_, 3.0 * previous_ms);
      return {to_delay(std::min(max_ms_, base_ms_)), to_delay(std::min(max_ms_, high))};
    }
  }
  return {Delay(0), to_delay(expo)};
}

Backoff::Random Backoff::default_random() {
  // One engine per thread: the agent probes on one io_context thread, tests may use others.
  return [] {
    thread_local std::mt19937_64 engine{std::random_device{}()};
    return std::uniform_real_distribution<double>(0.0, 1.0)(engine);
  };
}

}  // namespace connwatch::active
