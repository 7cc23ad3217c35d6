#include "libs/store/pool.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace pulse::store {

Connection::Connection(std::unique_ptr<Database> db)
    : db_(std::move(db)), serial_([] {
        static std::atomic<uint64_t> next{1};
        return next.fetch_add(1, std::memory_order_relaxed);
      }()) {}

absl::StatusOr<Statement*> Connection::Prepare(const std::string& sql) {
  auto it = statements_.find(sql);
  if (it == statements_.end()) {
    auto prepared = db_->Prepare(sql, /*persistent=*/true);
    if (!prepared.ok()) return prepared.status();
    it = statements_
             .emplace(sql, std::make_unique<Statement>(*std::move(prepared)))
             .first;
  } else {
    it->second->Clear();
  }
  used_.push_back(it->second.get());
  return it->second.get();
}

absl::StatusOr<int64_t> Connection::DataVersion() {
  // The cache's key made once (a literal would make a string per call).
  static const std::string* const kSql = new std::string("PRAGMA data_version");
  auto q = Prepare(*kSql);
  if (!q.ok()) return q.status();
  auto row = (*q)->Step();
  if (!row.ok()) return row.status();
  const int64_t version = (*q)->Int64(0);
  (*q)->Reset();
  return version;
}

absl::StatusOr<Connection::ReadSnapshot> Connection::BeginRead() {
  auto begin = Prepare("BEGIN");
  if (!begin.ok()) return begin.status();
  if (absl::Status s = (*begin)->Run(); !s.ok()) return s;
  auto version = DataVersion();
  if (!version.ok()) return version.status();
  ReadSnapshot snapshot;
  snapshot.data_version = *version;
  return snapshot;
}

void Connection::ResetAll() {
  for (Statement* statement : used_) statement->Reset();
  used_.clear();
}

ConnectionPool::Lease::~Lease() {
  if (connection_ != nullptr) pool_->Release(std::move(connection_));
}

ConnectionPool::ConnectionPool(std::string path, OpenOptions options,
                               int max_idle)
    : path_(std::move(path)),
      options_(options),
      max_idle_(static_cast<size_t>(max_idle)) {}

ConnectionPool::~ConnectionPool() {
  {
    absl::MutexLock lock(&mu_);
    idle_.clear();
  }
  // Only now: closing any descriptor of a file drops every POSIX lock this
  // process holds on it, SQLite's included.
  absl::MutexLock lock(&file_mu_);
  if (keeper_fd_ >= 0) ::close(keeper_fd_);
}

namespace {

using FileId = std::pair<uint64_t, uint64_t>;

FileId IdOf(const struct stat& st) {
  return {static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino)};
}

std::optional<FileId> FileAt(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return IdOf(st);
}

// Whether another process holds a lock in the byte range where every
// SQLite connection to a database in WAL mode holds a read lock while it is
// open (SQLite's file locking: the shared range just past the pending byte
// at 1 GiB). The calling process's own locks are not reported.
bool OpenInAnotherProcess(int fd) {
  constexpr off_t kPendingByte = 0x40000000;
  struct flock probe = {};
  probe.l_type = F_WRLCK;
  probe.l_whence = SEEK_SET;
  probe.l_start = kPendingByte + 2;
  probe.l_len = 510;
  return ::fcntl(fd, F_GETLK, &probe) == 0 && probe.l_type != F_UNLCK;
}

absl::Status ReplacedError(const std::string& path) {
  return absl::UnavailableError(absl::StrCat(
      "the database file ", path,
      " was replaced by another file (renamed over it); connections to the "
      "old file are being closed, and the new one is served once none is "
      "left: retry shortly"));
}

}  // namespace

absl::Status ConnectionPool::CheckBeforeOpen() {
  const auto now = FileAt(path_);
  absl::MutexLock lock(&file_mu_);
  if (!replaced_ && (!file_.has_value() || now == file_)) {
    return absl::OkStatus();
  }
  replaced_ = true;
  return ReplacedErrorLocked();
}

absl::Status ConnectionPool::CheckAfterOpen() {
  absl::MutexLock lock(&file_mu_);
  if (!file_.has_value() && !replaced_) {
    // The first connection: keep a descriptor of its file, for its
    // identity and to see other processes' locks on it after a rename.
    const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || ::fstat(fd, &st) != 0) {
      if (fd >= 0) ::close(fd);
      return absl::UnavailableError(
          absl::StrCat("cannot open ", path_, ": ", std::strerror(errno)));
    }
    keeper_fd_ = fd;
    file_ = IdOf(st);
  }
  // A connection opened before a rename is one to the old file (closed
  // with the rest); one opened after it sees the new inode here. The old
  // inode never comes back to the path.
  if (!replaced_ && FileAt(path_) == file_) return absl::OkStatus();
  replaced_ = true;
  return ReplacedErrorLocked();
}

absl::StatusOr<ConnectionPool::Lease> ConnectionPool::Acquire() {
  {
    absl::MutexLock lock(&mu_);
    {
      absl::MutexLock file_lock(&file_mu_);
      if (replaced_) return ReplacedErrorLocked();
    }
    ++leased_;
    if (!idle_.empty()) {
      std::unique_ptr<Connection> c = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(c));
    }
  }
  auto db = OpenOwn(options_);
  if (!db.ok()) {
    absl::MutexLock lock(&mu_);
    --leased_;
    return db.status();
  }
  return Lease(this, std::make_unique<Connection>(*std::move(db)));
}

absl::StatusOr<std::unique_ptr<Database>> ConnectionPool::OpenOwn(
    const OpenOptions& options) {
  // Checked before the open too: a connection to the new file, even one
  // closed at once, would open the old file's shared index as its own and
  // could reset it under the old file's connections.
  if (absl::Status same = CheckBeforeOpen(); !same.ok()) return same;
  auto db = Open(path_, options);
  if (!db.ok()) return db.status();
  if (absl::Status same = CheckAfterOpen(); !same.ok()) return same;
  return db;
}

bool ConnectionPool::FileReplaced() const {
  const auto now = FileAt(path_);
  absl::MutexLock lock(&file_mu_);
  if (replaced_) return true;
  return file_.has_value() && now.has_value() && *now != *file_;
}

absl::Status ConnectionPool::CheckFile() const {
  if (!FileReplaced()) return absl::OkStatus();
  absl::MutexLock lock(&file_mu_);
  return ReplacedErrorLocked();
}

absl::Status ConnectionPool::ReplacedErrorLocked() const {
  return move_blocked_.ok() ? ReplacedError(path_) : move_blocked_;
}

absl::Status ConnectionPool::MoveToNewFile() {
  absl::Status moved = TryMoveToNewFile();
  absl::MutexLock lock(&file_mu_);
  move_blocked_ = moved;
  return moved;
}

absl::Status ConnectionPool::TryMoveToNewFile() {
  std::vector<std::unique_ptr<Connection>> closing;
  {
    absl::MutexLock lock(&mu_);
    absl::MutexLock file_lock(&file_mu_);
    replaced_ = true;
    closing.swap(idle_);
  }
  // Closed outside the lock. SQLite leaves the log and shared index at the
  // path when the last connection to a moved file closes.
  closing.clear();
  absl::MutexLock lock(&mu_);
  if (leased_ > 0) {
    return absl::UnavailableError(absl::StrCat(
        "the database file ", path_, " was replaced; ", leased_,
        " reads of the old file are still running (a stream ends within "
        "--max_snapshot_age)"));
  }
  absl::MutexLock file_lock(&file_mu_);
  if (keeper_fd_ >= 0 && OpenInAnotherProcess(keeper_fd_)) {
    return absl::UnavailableError(absl::StrCat(
        "the database file ", path_,
        " was replaced, and another process still has the old file open "
        "(with its log at ",
        path_, "-wal); the new file is served once that process closes it"));
  }
  const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    // Closing it is safe: this process has no connection to the new file.
    const bool open_elsewhere = OpenInAnotherProcess(fd);
    ::close(fd);
    if (open_elsewhere) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the database file ", path_,
          " was replaced, and another process opened the new file while the "
          "old file's log was still at ",
          path_,
          "-wal, so it may have read the old file's pages as the new file's: "
          "stop every process that has the file open, then check it with "
          "'pulse-schema validate'"));
    }
  }
  // Nobody has either file open, so the log and shared index at the path
  // are the old file's; its data goes with it.
  for (const char* suffix : {"-wal", "-shm"}) {
    const std::string sidecar = path_ + suffix;
    if (::unlink(sidecar.c_str()) != 0 && errno != ENOENT) {
      return absl::InternalError(
          absl::StrCat("cannot remove ", sidecar, ": ", std::strerror(errno)));
    }
  }
  if (keeper_fd_ >= 0) ::close(keeper_fd_);
  keeper_fd_ = -1;
  file_.reset();
  replaced_ = false;
  return absl::OkStatus();
}

void ConnectionPool::Release(std::unique_ptr<Connection> c) {
  // A connection is returned only between transactions; one left inside a
  // transaction by an error is not worth repairing.
  const bool reusable = c->db().handle() != nullptr &&
                        sqlite3_get_autocommit(c->db().handle()) != 0;
  if (reusable) c->ResetAll();
  {
    absl::MutexLock lock(&mu_);
    --leased_;
    absl::MutexLock file_lock(&file_mu_);
    if (reusable && !replaced_ && idle_.size() < max_idle_) {
      idle_.push_back(std::move(c));
      return;
    }
  }
  // Closed outside the lock: the last connection to a file checkpoints it.
  c.reset();
}

}  // namespace pulse::store
