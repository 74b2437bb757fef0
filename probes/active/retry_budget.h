// A per-target token bucket that bounds retries to a share of probes (SPEC §3 retry.budget_ratio),
// after gRPC's retryThrottling and Finagle's RetryBudget (TCP-NOTES §6): every logical probe
// deposits `ratio` tokens, every retry withdraws one, and a retry needs a whole token. The bucket
// starts full and holds at most `max_tokens`, so over any window
//   retries <= ratio * probes + max_tokens,
// and a target that fails continuously settles at retries / probes = ratio. ratio 0 = no retries.
#pragma once

namespace connwatch::active {

class RetryBudget {
 public:
  // TCP-NOTES design rule 13: gRPC-style bucket with maxTokens 10.
  static constexpr double kDefaultMaxTokens = 10.0;

  explicit RetryBudget(double ratio, double max_tokens = kDefaultMaxTokens);

  // A logical probe started (retries do not deposit).
  void on_probe();
  // Withdraws one token for a retry; false (and nothing withdrawn) when less than one is left.
  bool try_acquire_retry();

  double tokens() const { return tokens_; }
  double ratio() const { return ratio_; }

 private:
  double ratio_;
  double max_tokens_;
  double tokens_;
};

}  // namespace connwatch::active
