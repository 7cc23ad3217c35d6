#include "services/orgdata/gate_monitor.h"

#include "libs/hierarchy/hierarchy.h"

namespace pulse::orgdata {

GateMonitor::GateMonitor(store::ConnectionPool* pool,
                         const migrate::RevisionGate* gate,
                         absl::Duration poll_interval,
                         std::function<void(const absl::Status&)> on_change)
    : pool_(pool),
      gate_(gate),
      on_change_(std::move(on_change)),
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

absl::Status GateMonitor::ReplacedFileError() const {
  return absl::FailedPreconditionError(
      "the database file was replaced while this service had it open (a new "
      "file at the same path); its write-ahead log and shared index beside it "
      "belong to the old file, so neither is read: restart pulse-orgdata, and "
      "next time put a backup back with 'pulse-schema restore', which is safe "
      "while the services run");
}

absl::Status GateMonitor::CheckNow() {
  if (file_replaced_.load(std::memory_order_acquire) || pool_->FileReplaced()) {
    file_replaced_.store(true, std::memory_order_release);
    return ReplacedFileError();
  }
  auto lease = pool_->Acquire();
  if (!lease.ok()) return lease.status();
  auto snapshot = hierarchy::Snapshot::Begin(*std::move(lease));
  if (!snapshot.ok()) return snapshot.status();
  return gate_->Check((*snapshot)->db());
}

}  // namespace pulse::orgdata
