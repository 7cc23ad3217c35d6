#include "libs/store/pool.h"

#include <sqlite3.h>

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
  return *it->second;
}

int64_t Connection::DataVersion() {
  SQLite::Statement& q = Prepare("PRAGMA data_version");
  q.executeStep();
  const int64_t version = q.getColumn(0).getInt64();
  q.reset();
  return version;
}

void Connection::ResetAll() {
  for (auto& [sql, statement] : statements_) statement->tryReset();
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
  return Lease(this, std::make_unique<Connection>(*std::move(db)));
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
  absl::MutexLock lock(&mu_);
  idle_.clear();
}

}  // namespace pulse::store
