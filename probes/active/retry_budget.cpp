#include "probes/active/retry_budget.h"

#include <algorithm>

namespace connwatch::active {

RetryBudget::RetryBudget(double ratio, double max_tokens)
    : ratio_(ratio > 0.0 ? ratio : 0.0),
      max_tokens_(ratio_ > 0.0 ? std::max(max_tokens, 1.0) : 0.0),
      tokens_(max_tokens_) {}

void RetryBudget::on_probe() { tokens_ = std::min(max_tokens_, tokens_ + ratio_); }

bool RetryBudget::try_acquire_retry() {
  // A small epsilon: ten deposits of 0.1 must add up to a whole token.
  if (tokens_ + 1e-9 < 1.0) return false;
  tokens_ = std::max(0.0, tokens_ - 1.0);
  return true;
}

}  // namespace connwatch::active
