#ifndef PULSE_LIBS_STORE_POOL_H_
#define PULSE_LIBS_STORE_POOL_H_

#include <any>
#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <typeindex>
#include <vector>

#include "SQLiteCpp/SQLiteCpp.h"
#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "libs/store/store.h"
#include "sqlite3.h"

namespace pulse::store {

// Which commits a read snapshot sees, told the same way on every connection
// of one pool (PRAGMA data_version counts only other connections' commits,
// so its numbers differ between connections): the header of the WAL index
// as the snapshot began. SQLite rewrites that header at every commit and
// keeps it in memory shared by all connections to the file, in every
// process (https://www.sqlite.org/walformat.html, "the wal-index header");
// it counts commits and carries the WAL's salts and checksums, so equal
// versions mean the same committed content.
struct CommitVersion {
  // The pool's anchor the connection was checked against (see
  // ConnectionPool); a new anchor starts a new epoch.
  uint64_t epoch = 0;
  std::array<uint32_t, 12> wal_index_header{};

  bool operator==(const CommitVersion& other) const {
    return epoch == other.epoch && wal_index_header == other.wal_index_header;
  }
  bool operator!=(const CommitVersion& other) const {
    return !(*this == other);
  }
};

// A connection with the statements prepared on it, kept for reuse. One
// thread at a time.
class Connection {
 public:
  explicit Connection(std::unique_ptr<SQLite::Database> db)
      : db_(std::move(db)) {}
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  SQLite::Database& db() { return *db_; }
  // The statement for `sql`, prepared on first use and reset (bindings
  // cleared) on every later one. Throws SQLite::Exception like SQLiteCpp.
  SQLite::Statement& Prepare(const std::string& sql);
  // The same as a bare sqlite3_stmt, for loops that read many rows through
  // SQLite's C API (no per-column objects); owned by the connection.
  // FromSqliteError's codes when it cannot be prepared.
  absl::StatusOr<sqlite3_stmt*> PrepareRaw(const std::string& sql);
  // Resets every statement handed out since the last call (so, since
  // statements are stepped only after Prepare or PrepareRaw hands them
  // out, every statement that may be running), so none holds a read
  // snapshot open.
  void ResetAll();

  // PRAGMA data_version inside the current transaction (it starts the read
  // snapshot if none is open): the same number as at an earlier call on
  // this connection exactly when no other connection has committed since.
  // Throws SQLite::Exception.
  int64_t DataVersion();

  // What a read transaction begun by BeginRead sees.
  struct ReadSnapshot {
    // DataVersion(), for facts kept with this connection (Memo).
    int64_t data_version = 0;
    // For facts shared by the pool's connections; nullopt when it cannot
    // be told: the file is not in WAL mode, the pool has no anchor, or a
    // commit was being written as the snapshot began.
    std::optional<CommitVersion> commit;
  };
  // Begins a read transaction (BEGIN) and its snapshot. Throws
  // SQLite::Exception.
  ReadSnapshot BeginRead();
  // Facts of type T derived from the database (its schema, its revision)
  // and kept with the connection while no other connection commits: the
  // instance made for `data_version`, or a new value-initialised one when
  // the data has changed since.
  template <typename T>
  T& Memo(int64_t data_version) {
    auto& [version, value] = memo_[std::type_index(typeid(T))];
    if (version != data_version || !value.has_value()) {
      version = data_version;
      value = T();
    }
    return *std::any_cast<T>(&value);
  }

 private:
  std::unique_ptr<SQLite::Database> db_;
  absl::flat_hash_map<std::string, std::unique_ptr<SQLite::Statement>>
      statements_;
  struct Finalize {
    void operator()(sqlite3_stmt* statement) const;
  };
  absl::flat_hash_map<std::string, std::unique_ptr<sqlite3_stmt, Finalize>>
      raw_statements_;
  // Handed out since the last ResetAll (with repeats).
  std::vector<SQLite::Statement*> used_;
  std::vector<sqlite3_stmt*> used_raw_;
  std::map<std::type_index, std::pair<int64_t, std::any>> memo_;
  // The WAL index in the memory SQLite shares between connections to the
  // file (mapped once the file is known to be in WAL mode), when it is the
  // one the pool's anchor maps; null otherwise.
  const uint32_t* wal_index_ = nullptr;
  uint64_t epoch_ = 0;
  friend class ConnectionPool;
};

// A bounded set of connections to one database file, opened lazily.
// Thread-safe.
//
// Once a connection has been opened, the pool also holds an anchor: one
// more connection to the file, idle until Clear(). In WAL mode SQLite keeps
// a shared lock on the file while a connection is open, so while the
// anchor lives no process can reset the WAL index (which would let a
// header repeat for other content) or take the file out of WAL mode;
// connections whose WAL index is the anchor's (the same file) report a
// CommitVersion.
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
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  // An idle connection, or a new one (Open's errors). Never blocks on
  // other callers: the pool bounds only how many idle connections it keeps.
  absl::StatusOr<Lease> Acquire();
  // Drops idle connections and the anchor (e.g. after the file was
  // replaced); connections opened later report versions of a new epoch.
  void Clear();

  // Whether the file at the pool's path is no longer the one its first
  // connection opened (a new file renamed over it). Such a file must not
  // be read through the old file's log and shared index, which stay at
  // the path while old connections live. False until a connection opened.
  bool FileReplaced() const;

  // An object of type T shared by every connection of the pool: made on
  // first use (value-initialised), destroyed with the pool. T must be
  // thread-safe.
  template <typename T>
  T& Shared() {
    const std::type_index type(typeid(T));
    {
      // Every read looks its objects up: readers do not wait for each other.
      absl::ReaderMutexLock lock(&shared_mu_);
      auto it = shared_.find(type);
      if (it != shared_.end()) return *static_cast<T*>(it->second.get());
    }
    absl::MutexLock lock(&shared_mu_);
    std::shared_ptr<void>& value = shared_[type];
    if (value == nullptr) value = std::make_shared<T>();
    return *static_cast<T*>(value.get());
  }

 private:
  void Release(std::unique_ptr<Connection> c);
  // Maps a new connection's WAL index and, when it is the anchor's, gives
  // the connection the anchor's epoch; opens the anchor if there is none.
  void JoinAnchor(Connection& c);

  const std::string path_;
  const OpenOptions options_;
  const size_t max_idle_;
  absl::Mutex mu_;
  std::vector<std::unique_ptr<Connection>> idle_ ABSL_GUARDED_BY(mu_);
  absl::Mutex anchor_mu_;
  std::unique_ptr<Connection> anchor_ ABSL_GUARDED_BY(anchor_mu_);
  const uint32_t* anchor_index_ ABSL_GUARDED_BY(anchor_mu_) = nullptr;
  uint64_t epoch_ ABSL_GUARDED_BY(anchor_mu_) = 0;
  // The file the first connection opened: st_dev and st_ino, once known.
  mutable absl::Mutex file_mu_;
  std::optional<std::pair<uint64_t, uint64_t>> file_ ABSL_GUARDED_BY(file_mu_);
  absl::Mutex shared_mu_;
  absl::flat_hash_map<std::type_index, std::shared_ptr<void>> shared_
      ABSL_GUARDED_BY(shared_mu_);
};

}  // namespace pulse::store

#endif  // PULSE_LIBS_STORE_POOL_H_
