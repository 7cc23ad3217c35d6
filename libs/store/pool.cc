#include "libs/store/pool.h"

#include <sqlite3.h>
#include <sys/stat.h>

namespace pulse::store {

SQLite::Statement& Connection::Prepare(const std::string& sql) {
  auto it = statements_.find(sql);
  if (it == statements_.end()) {
    it =
        statements_.emplace(sql, std::make_unique<SQLite::Statement>(*db_, sql))
            .first;
  } else {
    it->second->reset();
    it->second->clearBindings();
  }
  used_.push_back(it->second.get());
  return *it->second;
}

void Connection::Finalize::operator()(sqlite3_stmt* statement) const {
  sqlite3_finalize(statement);
}

absl::StatusOr<sqlite3_stmt*> Connection::PrepareRaw(const std::string& sql) {
  auto it = raw_statements_.find(sql);
  if (it != raw_statements_.end()) {
    sqlite3_reset(it->second.get());
    sqlite3_clear_bindings(it->second.get());
    used_raw_.push_back(it->second.get());
    return it->second.get();
  }
  sqlite3* handle = db_->getHandle();
  sqlite3_stmt* statement = nullptr;
  const int rc =
      sqlite3_prepare_v3(handle, sql.c_str(), static_cast<int>(sql.size()),
                         SQLITE_PREPARE_PERSISTENT, &statement, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(statement);
    return FromSqliteError(sqlite3_extended_errcode(handle),
                           sqlite3_errmsg(handle), "preparing a query");
  }
  raw_statements_.emplace(sql, statement);
  used_raw_.push_back(statement);
  return statement;
}

int64_t Connection::DataVersion() {
  // The cache's key made once (a literal would make a string per call).
  static const std::string* const kSql = new std::string("PRAGMA data_version");
  SQLite::Statement& q = Prepare(*kSql);
  q.executeStep();
  const int64_t version = q.getColumn(0).getInt64();
  q.reset();
  return version;
}

Connection::ReadSnapshot Connection::BeginRead() {
  Prepare("BEGIN").exec();
  ReadSnapshot snapshot;
  snapshot.data_version = DataVersion();
  return snapshot;
}

void Connection::ResetAll() {
  for (SQLite::Statement* statement : used_) statement->tryReset();
  for (sqlite3_stmt* statement : used_raw_) sqlite3_reset(statement);
  used_.clear();
  used_raw_.clear();
}

ConnectionPool::Lease::~Lease() {
  if (connection_ != nullptr) pool_->Release(std::move(connection_));
}

ConnectionPool::ConnectionPool(std::string path, OpenOptions options,
                               int max_idle)
    : path_(std::move(path)),
      options_(options),
      max_idle_(static_cast<size_t>(max_idle)) {}

absl::StatusOr<ConnectionPool::Lease> ConnectionPool::Acquire() {
  {
    absl::MutexLock lock(&mu_);
    if (!idle_.empty()) {
      std::unique_ptr<Connection> c = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(c));
    }
  }
  auto db = Open(path_, options_);
  if (!db.ok()) return db.status();
  {
    absl::MutexLock lock(&file_mu_);
    struct stat st;
    if (!file_.has_value() && ::stat(path_.c_str(), &st) == 0) {
      file_ = std::make_pair(static_cast<uint64_t>(st.st_dev),
                             static_cast<uint64_t>(st.st_ino));
    }
  }
  return Lease(this, std::make_unique<Connection>(*std::move(db)));
}

bool ConnectionPool::FileReplaced() const {
  absl::MutexLock lock(&file_mu_);
  if (!file_.has_value()) return false;
  struct stat st;
  if (::stat(path_.c_str(), &st) != 0) return false;
  return std::make_pair(static_cast<uint64_t>(st.st_dev),
                        static_cast<uint64_t>(st.st_ino)) != *file_;
}

void ConnectionPool::Release(std::unique_ptr<Connection> c) {
  // A connection is returned only between transactions; one left inside a
  // transaction by an error is not worth repairing.
  if (!c->db().getHandle() ||
      sqlite3_get_autocommit(c->db().getHandle()) == 0) {
    return;
  }
  c->ResetAll();
  absl::MutexLock lock(&mu_);
  if (idle_.size() < max_idle_) idle_.push_back(std::move(c));
}

void ConnectionPool::Clear() {
  {
    absl::MutexLock lock(&mu_);
    idle_.clear();
  }
}

}  // namespace pulse::store
