#include "probes/active/deadline.h"

namespace connwatch::active {

Deadline::Deadline(const boost::asio::any_io_executor& executor,
                   std::chrono::steady_clock::duration timeout, std::function<void()> on_expiry)
    : state_(std::make_shared<State>()), timer_(executor, timeout) {
  state_->on_expiry = std::move(on_expiry);
  timer_.async_wait([state = state_](const boost::system::error_code& ec) {
    if (ec || !state->armed) return;
    state->expired = true;
    state->armed = false;
    if (state->on_expiry) state->on_expiry();
  });
}

Deadline::~Deadline() {
  state_->armed = false;
  state_->on_expiry = nullptr;
  timer_.cancel();
}

}  // namespace connwatch::active
