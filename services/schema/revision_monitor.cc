#include "services/schema/revision_monitor.h"

#include <utility>

namespace pulse::schema {
namespace {

bool SameState(const absl::StatusOr<migrate::RevisionState>& a,
               const absl::StatusOr<migrate::RevisionState>& b) {
  if (a.ok() != b.ok()) return false;
  if (!a.ok()) return a.status() == b.status();
  return a->current == b->current &&
         a->migration_in_progress == b->migration_in_progress &&
         a->migration_target == b->migration_target &&
         a->history_sequence == b->history_sequence;
}

}  // namespace

RevisionMonitor::RevisionMonitor(const migrate::Migrator* migrator,
                                 absl::Duration poll_interval,
                                 std::function<void(const Snapshot&)> on_change)
    : migrator_(migrator),
      on_change_(std::move(on_change)),
      poller_(poll_interval, [this] { Refresh(); }) {}

RevisionMonitor::~RevisionMonitor() { Stop(); }

void RevisionMonitor::Start() {
  Refresh();
  poller_.Start();
}

void RevisionMonitor::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  poller_.Stop();
}

void RevisionMonitor::Poke() { poller_.Poke(); }

bool RevisionMonitor::stopped() const {
  absl::MutexLock lock(&mu_);
  return stop_;
}

RevisionMonitor::Snapshot RevisionMonitor::Current() const {
  absl::MutexLock lock(&mu_);
  return snapshot_;
}

bool RevisionMonitor::WaitForChange(uint64_t seen_version,
                                    absl::Duration timeout,
                                    Snapshot* out) const {
  absl::MutexLock lock(&mu_);
  auto changed = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return stop_ || snapshot_.version != seen_version;
  };
  mu_.AwaitWithTimeout(absl::Condition(&changed), timeout);
  if (stop_ || snapshot_.version == seen_version) return false;
  *out = snapshot_;
  return true;
}

void RevisionMonitor::Refresh() {
  absl::StatusOr<migrate::RevisionState> state = migrator_->GetState();
  Snapshot changed;
  {
    absl::MutexLock lock(&mu_);
    if (snapshot_.version > 0 && SameState(snapshot_.state, state)) return;
    snapshot_.state = std::move(state);
    ++snapshot_.version;
    changed = snapshot_;
  }
  if (on_change_) on_change_(changed);
}

}  // namespace pulse::schema
