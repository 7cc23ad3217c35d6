#include "libs/common/poller.h"

#include <utility>

namespace pulse {

Poller::Poller(absl::Duration interval, std::function<void()> tick)
    : interval_(interval), tick_(std::move(tick)) {}

Poller::~Poller() { Stop(); }

void Poller::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void Poller::Poke() {
  absl::MutexLock lock(&mu_);
  poked_ = true;
}

void Poller::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void Poller::Loop() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      auto wake = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
        return stop_ || poked_;
      };
      mu_.AwaitWithTimeout(absl::Condition(&wake), interval_);
      if (stop_) return;
      poked_ = false;
    }
    tick_();
  }
}

}  // namespace pulse
