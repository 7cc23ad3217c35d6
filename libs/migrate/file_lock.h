#ifndef PULSE_LIBS_MIGRATE_FILE_LOCK_H_
#define PULSE_LIBS_MIGRATE_FILE_LOCK_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace pulse::migrate {

// The file whose lock serialises migrations of the database at `db_path`.
inline std::string MigrationLockPath(const std::string& db_path) {
  return db_path + ".migrate.lock";
}

// An exclusive advisory lock (flock) on a file, held until destruction.
// The kernel releases it when the process dies, so a killed migration never
// leaves a stale lock behind. Holders write their pid into the file so a
// waiter can say who holds it.
class FileLock {
 public:
  // Waits up to `timeout` for the lock. ABORTED naming the holder's pid
  // when it is still held then; UNAVAILABLE when the file cannot be opened.
  static absl::StatusOr<std::unique_ptr<FileLock>> Acquire(
      const std::string& path, absl::Duration timeout);
  // Whether some process holds the lock on `path` now (a missing file is
  // not held). Takes and drops a shared lock without waiting, so it never
  // blocks a migration; UNAVAILABLE when the file cannot be opened.
  static absl::StatusOr<bool> IsHeld(const std::string& path);
  ~FileLock();
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace pulse::migrate

#endif  // PULSE_LIBS_MIGRATE_FILE_LOCK_H_
