#ifndef PULSE_LIBS_STORE_POOL_H_
#define PULSE_LIBS_STORE_POOL_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "libs/store/store.h"
#include "sqlite3.h"

namespace pulse::store {

// A connection with the statements prepared on it, kept for reuse. One
// thread at a time.
class Connection {
 public:
  explicit Connection(std::unique_ptr<Database> db);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  Database& db() { return *db_; }
  // The statement for `sql`, prepared on first use and cleared (reset,
  // parameters NULL) on every later one; owned by the connection.
  // FromSqliteError's codes when it cannot be prepared.
  absl::StatusOr<Statement*> Prepare(const std::string& sql);
  // Resets every statement handed out since the last call (so, since
  // statements are stepped only after Prepare hands them out, every
  // statement that may be running), so none holds a read snapshot open.
  void ResetAll();

  // PRAGMA data_version inside the current transaction (it starts the read
  // snapshot if none is open): the same number as at an earlier call on
  // this connection exactly when no other connection has committed since.
  absl::StatusOr<int64_t> DataVersion();

  // What a read transaction begun by BeginRead sees.
  struct ReadSnapshot {
    // DataVersion(), the key for facts kept with the connection
    // (ConnectionMemo).
    int64_t data_version = 0;
  };
  // Begins a read transaction (BEGIN) and its snapshot.
  absl::StatusOr<ReadSnapshot> BeginRead();

  // This connection's number, never given to another in this process.
  uint64_t serial() const { return serial_; }

 private:
  std::unique_ptr<Database> db_;
  absl::flat_hash_map<std::string, std::unique_ptr<Statement>> statements_;
  // Handed out since the last ResetAll (with repeats).
  std::vector<Statement*> used_;
  const uint64_t serial_;
};

// Facts of type T that a layer learns through connections (the schema's
// shape, the revision state), kept by that layer for each connection
// while no other connection commits: keyed by the connection's serial and
// its PRAGMA data_version. A cache: it forgets everything when it holds
// more connections than a pool keeps. Thread-safe.
template <typename T>
class ConnectionMemo {
 public:
  // The facts kept for `connection` at `data_version`, or null.
  std::shared_ptr<const T> Find(const Connection& connection,
                                int64_t data_version) const {
    absl::MutexLock lock(&mu_);
    auto it = facts_.find(connection.serial());
    if (it == facts_.end() || it->second.first != data_version) return nullptr;
    return it->second.second;
  }
  void Put(const Connection& connection, int64_t data_version,
           std::shared_ptr<const T> facts) {
    absl::MutexLock lock(&mu_);
    if (facts_.size() >= kMaxConnections) facts_.clear();
    facts_[connection.serial()] = {data_version, std::move(facts)};
  }
  // Forgets every connection's facts.
  void Clear() {
    absl::MutexLock lock(&mu_);
    facts_.clear();
  }

 private:
  static constexpr size_t kMaxConnections = 1024;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<uint64_t, std::pair<int64_t, std::shared_ptr<const T>>>
      facts_ ABSL_GUARDED_BY(mu_);
};

// A bounded set of connections to one database file, opened lazily.
// Thread-safe.
class ConnectionPool {
 public:
  // Returns its connection to the pool when destroyed.
  class Lease {
   public:
    Lease(ConnectionPool* pool, std::unique_ptr<Connection> c)
        : pool_(pool), connection_(std::move(c)) {}
    ~Lease();
    Lease(Lease&&) = default;
    Connection* operator->() { return connection_.get(); }
    Connection& operator*() { return *connection_; }
    ConnectionPool& pool() { return *pool_; }

   private:
    ConnectionPool* pool_;
    std::unique_ptr<Connection> connection_;
  };

  ConnectionPool(std::string path, OpenOptions options, int max_idle);
  ~ConnectionPool();
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  // An idle connection, or a new one (Open's errors). Never blocks on
  // other callers: the pool bounds only how many idle connections it keeps.
  // UNAVAILABLE once the file was found replaced, until MoveToNewFile.
  absl::StatusOr<Lease> Acquire();

  // A connection outside the pool (a writer's), opened with `options`, to
  // the same file as the pool's: the same check and refusal as Acquire.
  absl::StatusOr<std::unique_ptr<Database>> OpenOwn(const OpenOptions& options);

  // A new file renamed over the pool's (same path, another inode) must not
  // be opened while any connection to the old one lives, or while the old
  // file's log and shared index are at the path: SQLite keeps them there
  // (PATH-wal, PATH-shm) even after the last connection to a moved file
  // closes, and a connection to the new file would read the old file's
  // pages out of that log as its own. So the pool's file is the one its
  // first connection opened; every later open is checked against it, and
  // once the path names another file, opens and Acquire are refused until
  // MoveToNewFile.

  // Whether the path names another file than the pool's (a stat, or the
  // finding of an earlier check). False until a connection opened.
  bool FileReplaced() const;
  // UNAVAILABLE (saying so) if FileReplaced(), else OK.
  absl::Status CheckFile() const;
  const std::string& path() const { return path_; }
  // Moves the pool to the file now at its path, once that is safe: drops
  // the idle connections; then, if no connection handed out is still in
  // use and no other process has the old file or the new one open, removes
  // the old file's log and shared index from the path and forgets the old
  // file. Otherwise UNAVAILABLE saying what still holds the old file (call
  // again later), or FAILED_PRECONDITION if another process opened the new
  // file while the old log was beside it. Close connections from OpenOwn
  // first.
  absl::Status MoveToNewFile();

 private:
  void Release(std::unique_ptr<Connection> c);
  // Before an open: OK unless the path is known to name another file.
  absl::Status CheckBeforeOpen();
  // After an open: OK if the path still names the pool's file (recording
  // it on the first open); otherwise marks the file replaced and returns
  // UNAVAILABLE.
  absl::Status CheckAfterOpen();
  absl::Status TryMoveToNewFile();
  // Why the pool cannot use its file: what stops the move if known.
  absl::Status ReplacedErrorLocked() const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(file_mu_);

  const std::string path_;
  const OpenOptions options_;
  const size_t max_idle_;
  absl::Mutex mu_;
  std::vector<std::unique_ptr<Connection>> idle_ ABSL_GUARDED_BY(mu_);
  // Connections handed out and not yet released.
  int leased_ ABSL_GUARDED_BY(mu_) = 0;
  // The pool's file (st_dev, st_ino), once known, and a descriptor of it
  // kept open until the pool moves on (closing a descriptor of a file
  // drops every POSIX lock the process holds on it, SQLite's included);
  // whether the path was found to name another.
  mutable absl::Mutex file_mu_ ABSL_ACQUIRED_AFTER(mu_);
  std::optional<std::pair<uint64_t, uint64_t>> file_ ABSL_GUARDED_BY(file_mu_);
  int keeper_fd_ ABSL_GUARDED_BY(file_mu_) = -1;
  bool replaced_ ABSL_GUARDED_BY(file_mu_) = false;
  // What stopped the last MoveToNewFile (OK when it succeeded or none ran).
  absl::Status move_blocked_ ABSL_GUARDED_BY(file_mu_);
};

}  // namespace pulse::store

#endif  // PULSE_LIBS_STORE_POOL_H_
