#ifndef PULSE_SERVICES_ORGDATA_GATE_MONITOR_H_
#define PULSE_SERVICES_ORGDATA_GATE_MONITOR_H_

#include <atomic>
#include <functional>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "libs/common/poller.h"
#include "libs/migrate/revision_gate.h"
#include "libs/store/pool.h"

namespace pulse::orgdata {

// Keeps the service's verdict on the database current: re-checks the
// revision gate against the database every poll interval and whenever
// poked (the schema watcher pokes on every revision change), and reports
// each change of verdict. Requests report what they find too (Observe), so
// health follows the database even between checks.
class GateMonitor {
 public:
  // `on_change(status)` runs whenever the verdict flips, on a thread that
  // saw a flip, one call at a time and in the order the verdicts were
  // decided: each call passes the newest verdict, so once Observe calls
  // have returned, the last call passed last(). When a check finds the
  // pool's file replaced, it calls `move_to_new_file` (by default the
  // pool's MoveToNewFile; the server closes its writer's connections
  // first) and, until that succeeds, its error is the verdict. `pool` and
  // `gate` must outlive the monitor.
  GateMonitor(store::ConnectionPool* pool, const migrate::RevisionGate* gate,
              absl::Duration poll_interval,
              std::function<void(const absl::Status&)> on_change,
              std::function<absl::Status()> move_to_new_file = nullptr);
  ~GateMonitor();
  GateMonitor(const GateMonitor&) = delete;
  GateMonitor& operator=(const GateMonitor&) = delete;

  // Checks once synchronously, then starts the thread.
  void Start();
  void Stop();
  void Poke();
  // Records a verdict seen by a request.
  void Observe(const absl::Status& verdict);
  absl::Status last() const;

 private:
  absl::Status CheckNow();

  store::ConnectionPool* pool_;
  const migrate::RevisionGate* gate_;
  std::function<void(const absl::Status&)> on_change_;
  std::function<absl::Status()> move_to_new_file_;
  mutable absl::Mutex mu_;
  absl::Status last_ ABSL_GUARDED_BY(mu_) = absl::UnavailableError("unchecked");
  bool have_verdict_ ABSL_GUARDED_BY(mu_) = false;
  // Counts verdict changes; the one on_change_ was last called for.
  uint64_t decided_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Mutex apply_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  uint64_t applied_ ABSL_GUARDED_BY(apply_mu_) = 0;
  // Whether last_ is OK: every request observes, nearly always OK after
  // OK, which then needs no lock.
  std::atomic<bool> last_ok_{false};
  Poller poller_;
};

}  // namespace pulse::orgdata

#endif  // PULSE_SERVICES_ORGDATA_GATE_MONITOR_H_
