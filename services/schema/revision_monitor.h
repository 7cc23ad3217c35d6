#ifndef PULSE_SERVICES_SCHEMA_REVISION_MONITOR_H_
#define PULSE_SERVICES_SCHEMA_REVISION_MONITOR_H_

#include <cstdint>
#include <functional>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "libs/common/poller.h"
#include "libs/migrate/migrator.h"

namespace pulse::schema {

// Watches the database's revision state and tells waiters when it changes,
// whoever changed it (this server, the pulse-schema command line, another
// host). A background thread re-reads the state every poll interval, and at
// once after Poke().
class RevisionMonitor {
 public:
  struct Snapshot {
    // Increases by one on every observed change; 0 before the first read.
    uint64_t version = 0;
    absl::StatusOr<migrate::RevisionState> state =
        absl::UnavailableError("not read yet");
  };

  // `migrator` must outlive the monitor. `on_change` (may be empty) runs on
  // the monitor thread after each change, e.g. to update health.
  RevisionMonitor(const migrate::Migrator* migrator,
                  absl::Duration poll_interval,
                  std::function<void(const Snapshot&)> on_change);
  ~RevisionMonitor();
  RevisionMonitor(const RevisionMonitor&) = delete;
  RevisionMonitor& operator=(const RevisionMonitor&) = delete;

  // Reads the state once synchronously, then starts the thread.
  void Start();
  // Stops the thread and wakes every waiter. Idempotent.
  void Stop();
  // Asks for a re-read now (after a migration this server ran).
  void Poke();

  Snapshot Current() const;
  // Waits until the version differs from `seen_version`, the timeout
  // passes, or the monitor stops. True with `*out` set on a change.
  bool WaitForChange(uint64_t seen_version, absl::Duration timeout,
                     Snapshot* out) const;
  bool stopped() const;

 private:
  void Refresh();

  const migrate::Migrator* migrator_;
  std::function<void(const Snapshot&)> on_change_;
  mutable absl::Mutex mu_;
  Snapshot snapshot_ ABSL_GUARDED_BY(mu_);
  // Wakes waiters; the poller has its own stop.
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  Poller poller_;
};

}  // namespace pulse::schema

#endif  // PULSE_SERVICES_SCHEMA_REVISION_MONITOR_H_
