#ifndef PULSE_SERVICES_ORGDATA_WRITER_H_
#define PULSE_SERVICES_ORGDATA_WRITER_H_

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "libs/common/worker_pool.h"
#include "libs/migrate/revision_gate.h"
#include "libs/store/pool.h"
#include "libs/write/changes.h"
#include "libs/write/import.h"

namespace pulse::orgdata {

// The org-data service's write path: one writer connection, opened on first
// use, through which writes run one at a time on a thread of the writer's
// own (the caller waits), each in its own transaction
// whose first read is the revision gate (the same gate as reads). Reads
// never use it.
//
// Checkpoints of the write-ahead log run on a thread of the writer's own,
// after writes commit, instead of inside the commit that crosses SQLite's
// threshold (which held that write for 50-100 ms after a large move).
//
// A write starts the log over only if the log was wholly checkpointed when
// it began; writes that follow one another closely each begin while the
// previous one's checkpoint runs, so the log would only grow (to 450 MB in
// the benchmark, each write slower than the last as the kernel throttles
// the dirty pages). So once the log holds `wal_frames_before_wait` pages
// and the last commit was a large one (a 16th of that or more), the next
// write first waits for the checkpointer to finish; after small commits
// (where readers, not the writer, keep the log from starting over, and
// waiting would only add to every write's latency) it waits once the log
// holds four times as much.
//
// Left to itself, SQLite keeps the log's file at the size of the largest
// burst of writes (an import of a million people leaves hundreds of MB)
// until the last connection closes; here the first commit after the log
// starts over cuts the file back to `wal_frames_before_wait` pages.
// Thread-safe.
class Writer {
 public:
  // 64 MiB of 4 KiB pages.
  static constexpr int kWalFramesBeforeWait = 16384;

  // Opens its connections through `pool` (to the pool's file); `pool` and
  // `gate` must outlive the writer.
  Writer(store::ConnectionPool* pool, const migrate::RevisionGate* gate,
         int wal_frames_before_wait = kWalFramesBeforeWait);
  // Stops the checkpointer (one last checkpoint first).
  ~Writer();
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // write::ApplyChanges on the writer connection, behind the gate.
  absl::StatusOr<write::WriteSummary> ApplyChanges(
      const std::vector<write::Change>& changes, bool validate_only);

  // A connection of its own for an import's staged rows (staging takes no
  // lock, so a slow client holds up no other writer), and the gate as the
  // import's precondition. Finish the import with FinishImport.
  absl::StatusOr<std::unique_ptr<store::Database>> OpenImportConnection();
  std::function<absl::Status(store::Database&)> Precondition() const;
  // Importer::Finish, one writer at a time.
  absl::StatusOr<write::WriteSummary> FinishImport(write::Importer& importer);
  // Deletes the change log's rows older than `older_than_ms` (Unix ms) and
  // all but the newest `keep_rows`; returns how many. In batches, each its
  // own transaction and its own turn on the writer's thread, so that writes
  // asked for meanwhile commit between them. Stops early, between batches,
  // once `stop` returns true (a server shutting down: the rest waits for
  // the next start).
  absl::StatusOr<int64_t> PruneChangeLog(
      int64_t older_than_ms, int64_t keep_rows,
      const std::function<bool()>& stop = [] { return false; });

  // Closes the writer's and the checkpointer's connections (after a write
  // or checkpoint in progress); the next write opens them again. While the
  // pool's file is replaced, writes are refused (UNAVAILABLE), so nothing
  // reaches the old file after the replacement is seen.
  void CloseConnections();

 private:
  // Runs `work` on the writer's thread and waits for its result. Every
  // write runs there, so that the memory a large one takes (a subtree
  // move's ~40 MB statement journal) comes from one malloc heap, which
  // keeps it for the next (StartServerBinary); on whichever gRPC thread a
  // write landed, it was faulted in afresh each time, and a move took up
  // to twice as long (docs/PERFORMANCE.md, "Memory given back").
  template <typename F>
  auto OnWriterThread(F work) -> decltype(work()) {
    std::optional<decltype(work())> result;
    absl::Notification done;
    thread_.Schedule([&] {
      result.emplace(work());
      done.Notify();
    });
    done.WaitForNotification();
    return *std::move(result);
  }
  // The public calls' work, on the writer's thread.
  absl::StatusOr<write::WriteSummary> Apply(
      const std::vector<write::Change>& changes, bool validate_only);
  absl::StatusOr<write::WriteSummary> Finish(write::Importer& importer);
  // One batch of PruneChangeLog.
  absl::StatusOr<int64_t> Prune(int64_t older_than_ms, int64_t keep_rows);
  // Opens the writer's connection when it is not open.
  absl::Status OpenWriterConnection() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Asks the checkpointer to run once more.
  void RequestCheckpoint();
  void CheckpointLoop();
  // Keeps wal_frames_ up to date from `db`'s commits.
  void WatchLogSize(store::Database& db);
  // When the log has grown past its bound, waits (up to a few seconds) for
  // the checkpointer to catch up, so that the next write starts it over.
  void WaitForCheckpointIfLogIsLarge();

  store::ConnectionPool* const pool_;
  const migrate::RevisionGate* gate_;
  absl::Mutex mu_;
  std::unique_ptr<store::Connection> connection_ ABSL_GUARDED_BY(mu_);

  absl::Mutex checkpoint_mu_;
  bool checkpoint_wanted_ ABSL_GUARDED_BY(checkpoint_mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(checkpoint_mu_) = false;
  bool checkpointing_ ABSL_GUARDED_BY(checkpoint_mu_) = false;
  // The checkpointer's connection, out of the member while it checkpoints.
  std::unique_ptr<store::Database> checkpoint_db_
      ABSL_GUARDED_BY(checkpoint_mu_);
  std::thread checkpointer_;
  const int wal_frames_before_wait_;
  // Pages in the log after the last commit (SQLite's WAL hook), and how
  // many that commit added.
  std::atomic<int> wal_frames_{0};
  std::atomic<int> last_commit_frames_{0};
  // The writer's thread (OnWriterThread).
  WorkerPool thread_{1};
};

}  // namespace pulse::orgdata

#endif  // PULSE_SERVICES_ORGDATA_WRITER_H_
