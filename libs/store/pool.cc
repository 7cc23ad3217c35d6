#include "libs/store/pool.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <atomic>

namespace pulse::store {
namespace {

// The WAL index layout (https://www.sqlite.org/walformat.html): two copies
// of a 48-byte header, written second copy first at each commit and read
// first copy first, so that a reader can tell a header being rewritten.
constexpr size_t kHeaderWords = 12;
constexpr uint32_t kWalIndexVersion = 3007000;
// The size of one region of the WAL index, as SQLite maps it.
constexpr int kWalIndexRegion = 32768;

// The header of the WAL index at `index`, or nullopt while a commit is
// rewriting it (or before it was first written). The memory is shared
// with writers in other processes; the loads are atomic, and ordered as
// SQLite's own reader orders them.
std::optional<std::array<uint32_t, kHeaderWords>> ReadWalIndexHeader(
    const uint32_t* index) {
  std::array<uint32_t, kHeaderWords> first, second;
  for (size_t i = 0; i < kHeaderWords; ++i) {
    first[i] = __atomic_load_n(index + i, __ATOMIC_ACQUIRE);
  }
  std::atomic_thread_fence(std::memory_order_seq_cst);
  for (size_t i = 0; i < kHeaderWords; ++i) {
    second[i] = __atomic_load_n(index + kHeaderWords + i, __ATOMIC_ACQUIRE);
  }
  // Word 3 starts with isInit (one byte, then the checksum order and the
  // page size); word 0 is the format version.
  const uint8_t is_init = reinterpret_cast<const uint8_t*>(&first[3])[0];
  if (first != second || first[0] != kWalIndexVersion || is_init != 1) {
    return std::nullopt;
  }
  return first;
}

// The WAL index of `db`'s main file as SQLite has mapped it, or null when
// the file is not in WAL mode. Runs a read transaction: inside one, SQLite
// has the index open and mapped, so the VFS's xShmMap only returns that
// mapping (outside one it might have to open the index itself).
const uint32_t* MapWalIndex(SQLite::Database& db) {
  try {
    if (db.execAndGet("PRAGMA journal_mode").getString() != "wal") {
      return nullptr;
    }
    sqlite3* handle = db.getHandle();
    db.exec("BEGIN");
    db.execAndGet("PRAGMA data_version");
    sqlite3_file* file = nullptr;
    volatile void* region = nullptr;
    if (sqlite3_file_control(handle, "main", SQLITE_FCNTL_FILE_POINTER,
                             &file) == SQLITE_OK &&
        file != nullptr && file->pMethods != nullptr &&
        file->pMethods->iVersion >= 2 && file->pMethods->xShmMap != nullptr &&
        file->pMethods->xShmMap(file, 0, kWalIndexRegion, 0, &region) !=
            SQLITE_OK) {
      region = nullptr;
    }
    db.exec("COMMIT");
    return const_cast<const uint32_t*>(static_cast<volatile uint32_t*>(region));
  } catch (const SQLite::Exception&) {
    // Without the index, the connection only reports no CommitVersion.
    if (sqlite3_get_autocommit(db.getHandle()) == 0) {
      sqlite3_exec(db.getHandle(), "ROLLBACK", nullptr, nullptr, nullptr);
    }
    return nullptr;
  }
}

}  // namespace

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
  // The header before and after the snapshot begins: when both are the
  // same, no commit came in between, so the snapshot is that header's.
  std::optional<std::array<uint32_t, kHeaderWords>> before;
  if (wal_index_ != nullptr) before = ReadWalIndexHeader(wal_index_);
  Prepare("BEGIN").exec();
  ReadSnapshot snapshot;
  snapshot.data_version = DataVersion();
  if (before.has_value() && ReadWalIndexHeader(wal_index_) == before) {
    snapshot.commit = CommitVersion{epoch_, *before};
  }
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
  auto connection = std::make_unique<Connection>(*std::move(db));
  JoinAnchor(*connection);
  return Lease(this, std::move(connection));
}

bool ConnectionPool::FileReplaced() const {
  absl::MutexLock lock(&file_mu_);
  if (!file_.has_value()) return false;
  struct stat st;
  if (::stat(path_.c_str(), &st) != 0) return false;
  return std::make_pair(static_cast<uint64_t>(st.st_dev),
                        static_cast<uint64_t>(st.st_ino)) != *file_;
}

void ConnectionPool::JoinAnchor(Connection& c) {
  const uint32_t* index = MapWalIndex(c.db());
  if (index == nullptr) return;
  absl::MutexLock lock(&anchor_mu_);
  if (anchor_ == nullptr) {
    auto db = Open(path_, options_);
    if (!db.ok()) return;
    auto anchor = std::make_unique<Connection>(*std::move(db));
    anchor_index_ = MapWalIndex(anchor->db());
    if (anchor_index_ == nullptr) return;
    anchor_ = std::move(anchor);
    ++epoch_;
  }
  // Connections to one file in one process share its WAL index, mapped
  // once: the same address is the same file, and the anchor keeps that
  // mapping (so the address) from being reused for another.
  if (index == anchor_index_) {
    c.wal_index_ = index;
    c.epoch_ = epoch_;
  }
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
  absl::MutexLock lock(&anchor_mu_);
  anchor_.reset();
  anchor_index_ = nullptr;
}

}  // namespace pulse::store
