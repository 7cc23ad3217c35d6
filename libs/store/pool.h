#ifndef PULSE_LIBS_STORE_POOL_H_
#define PULSE_LIBS_STORE_POOL_H_

#include <any>
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
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  // An idle connection, or a new one (Open's errors). Never blocks on
  // other callers: the pool bounds only how many idle connections it keeps.
  absl::StatusOr<Lease> Acquire();
  // Drops idle connections (e.g. after the file was replaced).
  void Clear();

  // Whether the file at the pool's path is no longer the one its first
  // connection opened (a new file renamed over it). Such a file must not
  // be read through the old file's log and shared index, which stay at
  // the path while old connections live. False until a connection opened.
  bool FileReplaced() const;

 private:
  void Release(std::unique_ptr<Connection> c);

  const std::string path_;
  const OpenOptions options_;
  const size_t max_idle_;
  absl::Mutex mu_;
  std::vector<std::unique_ptr<Connection>> idle_ ABSL_GUARDED_BY(mu_);
  // The file the first connection opened: st_dev and st_ino, once known.
  mutable absl::Mutex file_mu_;
  std::optional<std::pair<uint64_t, uint64_t>> file_ ABSL_GUARDED_BY(file_mu_);
};

}  // namespace pulse::store

#endif  // PULSE_LIBS_STORE_POOL_H_
