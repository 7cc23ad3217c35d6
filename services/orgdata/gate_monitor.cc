#include "services/orgdata/gate_monitor.h"

#include "absl/strings/str_cat.h"
#include "libs/common/log.h"
#include "libs/hierarchy/hierarchy.h"

namespace pulse::orgdata {

GateMonitor::GateMonitor(store::ConnectionPool* pool,
                         const migrate::RevisionGate* gate,
                         absl::Duration poll_interval,
                         std::function<void(const absl::Status&)> on_change,
                         std::function<absl::Status()> move_to_new_file)
    : pool_(pool),
      gate_(gate),
      on_change_(std::move(on_change)),
      move_to_new_file_(move_to_new_file != nullptr
                            ? std::move(move_to_new_file)
                            : std::function<absl::Status()>(
                                  [pool] { return pool->MoveToNewFile(); })),
      poller_(poll_interval, [this] { Observe(CheckNow()); }) {}

GateMonitor::~GateMonitor() { Stop(); }

void GateMonitor::Start() {
  Observe(CheckNow());
  poller_.Start();
}

void GateMonitor::Stop() { poller_.Stop(); }

void GateMonitor::Poke() { poller_.Poke(); }

absl::Status GateMonitor::last() const {
  absl::MutexLock lock(&mu_);
  return last_;
}

void GateMonitor::Observe(const absl::Status& verdict) {
  if (verdict.ok() && last_ok_.load(std::memory_order_acquire)) return;
  {
    absl::MutexLock lock(&mu_);
    if (have_verdict_ && verdict.ok() == last_.ok() &&
        verdict.message() == last_.message()) {
      return;
    }
    have_verdict_ = true;
    last_ = verdict;
    ++decided_;
    last_ok_.store(verdict.ok(), std::memory_order_release);
  }
  // Two threads with opposite verdicts must not apply them in the other
  // order: one at a time, each applies the newest verdict decided.
  absl::MutexLock apply(&apply_mu_);
  absl::Status newest;
  uint64_t decided;
  {
    absl::MutexLock lock(&mu_);
    newest = last_;
    decided = decided_;
  }
  if (decided == applied_) return;
  applied_ = decided;
  on_change_(newest);
}

absl::Status GateMonitor::CheckNow() {
  if (pool_->FileReplaced()) {
    if (absl::Status moved = move_to_new_file_(); !moved.ok()) return moved;
    LogLine(
        absl::StrCat("now serving the new file renamed over ", pool_->path()));
  }
  auto lease = pool_->Acquire();
  if (!lease.ok()) return lease.status();
  auto snapshot = hierarchy::Snapshot::Begin(*std::move(lease));
  if (!snapshot.ok()) return snapshot.status();
  return gate_->Check((*snapshot)->db());
}

}  // namespace pulse::orgdata
