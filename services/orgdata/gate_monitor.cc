#include "services/orgdata/gate_monitor.h"

#include "libs/hierarchy/hierarchy.h"

namespace pulse::orgdata {

GateMonitor::GateMonitor(store::ConnectionPool* pool,
                         const migrate::RevisionGate* gate,
                         absl::Duration poll_interval,
                         std::function<void(const absl::Status&)> on_change)
    : pool_(pool),
      gate_(gate),
      poll_interval_(poll_interval),
      on_change_(std::move(on_change)) {}

GateMonitor::~GateMonitor() { Stop(); }

void GateMonitor::Start() {
  Observe(CheckNow());
  thread_ = std::thread([this] { Loop(); });
}

void GateMonitor::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void GateMonitor::Poke() {
  absl::MutexLock lock(&mu_);
  poked_ = true;
}

absl::Status GateMonitor::last() const {
  absl::MutexLock lock(&mu_);
  return last_;
}

void GateMonitor::Observe(const absl::Status& verdict) {
  {
    absl::MutexLock lock(&mu_);
    if (have_verdict_ && verdict.ok() == last_.ok() &&
        verdict.message() == last_.message()) {
      return;
    }
    have_verdict_ = true;
    last_ = verdict;
  }
  on_change_(verdict);
}

absl::Status GateMonitor::CheckNow() {
  auto lease = pool_->Acquire();
  if (!lease.ok()) return lease.status();
  auto snapshot = hierarchy::Snapshot::Begin(*std::move(lease));
  if (!snapshot.ok()) return snapshot.status();
  return gate_->Check((*snapshot)->db());
}

void GateMonitor::Loop() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      auto wake = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
        return stop_ || poked_;
      };
      mu_.AwaitWithTimeout(absl::Condition(&wake), poll_interval_);
      if (stop_) return;
      poked_ = false;
    }
    Observe(CheckNow());
  }
}

}  // namespace pulse::orgdata
