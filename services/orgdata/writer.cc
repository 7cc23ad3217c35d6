#include "services/orgdata/writer.h"

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "libs/common/log.h"
#include "libs/store/change_log.h"
#include "libs/store/store.h"

namespace pulse::orgdata {
namespace {

// The writer's page cache (negative: KiB): a subtree move rewrites a row of
// every employee in it, scattered through the table by id.
constexpr char kWriterCache[] = "PRAGMA cache_size = -65536";
// Statement journals in memory. A statement in a transaction that may fail
// half-way (every write that fires the triggers) journals each page it
// changes; on disk that is a temporary file of about 40 MB for a
// 10,000-person move. In memory the move takes 0.75x the time, for as
// much memory while the statement runs (at most the pages it changes).
constexpr char kWriterJournals[] = "PRAGMA temp_store = MEMORY";
// Change-log rows deleted per transaction: about 40 ms of holding the
// write lock here (a backlog of 533,000 rows took 2.2 s in one).
constexpr int64_t kPruneBatchRows = 10000;

}  // namespace

Writer::Writer(store::ConnectionPool* pool, const migrate::RevisionGate* gate,
               int wal_frames_before_wait)
    : pool_(pool),
      gate_(gate),
      wal_frames_before_wait_(wal_frames_before_wait) {
  checkpointer_ = std::thread([this] { CheckpointLoop(); });
}

Writer::~Writer() {
  {
    absl::MutexLock lock(&checkpoint_mu_);
    stopping_ = true;
  }
  checkpointer_.join();
}

absl::Status Writer::OpenWriterConnection() {
  if (connection_ != nullptr) return absl::OkStatus();
  auto db = OpenImportConnection();
  if (!db.ok()) return db.status();
  absl::Status s = (*db)->Exec(kWriterCache);
  if (s.ok()) s = (*db)->Exec(kWriterJournals);
  if (!s.ok()) return store::WithContext(s, "configuring the writer");
  connection_ = std::make_unique<store::Connection>(*std::move(db));
  return absl::OkStatus();
}

std::function<absl::Status(store::Database&)> Writer::Precondition() const {
  const migrate::RevisionGate* gate = gate_;
  return [gate](store::Database& db) { return gate->Check(db); };
}

absl::StatusOr<std::unique_ptr<store::Database>>
Writer::OpenImportConnection() {
  store::OpenOptions open;
  open.create = false;
  auto db = pool_->OpenOwn(open);
  if (!db.ok()) return db.status();
  // The checkpointer copies the log into the file, off the write path.
  if (absl::Status s = (*db)->Exec("PRAGMA wal_autocheckpoint = 0"); !s.ok()) {
    return store::WithContext(s, "configuring the writer");
  }
  auto page_bytes = (*db)->SelectInt("PRAGMA page_size");
  if (!page_bytes.ok()) {
    return store::WithContext(page_bytes.status(), "configuring the writer");
  }
  if (absl::Status s = (*db)->Exec(
          absl::StrCat("PRAGMA journal_size_limit = ",
                       int64_t{wal_frames_before_wait_} * *page_bytes));
      !s.ok()) {
    return store::WithContext(s, "configuring the writer");
  }
  WatchLogSize(**db);
  return db;
}

absl::StatusOr<write::WriteSummary> Writer::ApplyChanges(
    const std::vector<write::Change>& changes, bool validate_only) {
  return OnWriterThread([&] { return Apply(changes, validate_only); });
}

absl::StatusOr<write::WriteSummary> Writer::Apply(
    const std::vector<write::Change>& changes, bool validate_only) {
  absl::StatusOr<write::WriteSummary> result;
  {
    absl::MutexLock lock(&mu_);
    if (absl::Status file = pool_->CheckFile(); !file.ok()) return file;
    if (absl::Status s = OpenWriterConnection(); !s.ok()) return s;
    if (!validate_only) WaitForCheckpointIfLogIsLarge();
    result = write::ApplyChanges(*connection_, changes, validate_only,
                                 Precondition());
  }
  if (result.ok() && !validate_only) RequestCheckpoint();
  return result;
}

absl::StatusOr<write::WriteSummary> Writer::FinishImport(
    write::Importer& importer) {
  return OnWriterThread([&] { return Finish(importer); });
}

absl::StatusOr<write::WriteSummary> Writer::Finish(write::Importer& importer) {
  absl::StatusOr<write::WriteSummary> result;
  {
    absl::MutexLock lock(&mu_);
    if (absl::Status file = pool_->CheckFile(); !file.ok()) return file;
    WaitForCheckpointIfLogIsLarge();
    result = importer.Finish();
  }
  if (result.ok()) RequestCheckpoint();
  return result;
}

absl::StatusOr<int64_t> Writer::PruneChangeLog(
    int64_t older_than_ms, int64_t keep_rows,
    const std::function<bool()>& stop) {
  int64_t total = 0;
  while (!stop()) {
    auto pruned =
        OnWriterThread([&] { return Prune(older_than_ms, keep_rows); });
    if (!pruned.ok()) return pruned.status();
    total += *pruned;
    if (*pruned == 0) break;
  }
  return total;
}

absl::StatusOr<int64_t> Writer::Prune(int64_t older_than_ms,
                                      int64_t keep_rows) {
  absl::StatusOr<int64_t> pruned;
  {
    absl::MutexLock lock(&mu_);
    if (absl::Status file = pool_->CheckFile(); !file.ok()) return file;
    if (absl::Status s = OpenWriterConnection(); !s.ok()) return s;
    store::Database& db = connection_->db();
    auto exists = store::TableExists(db, "change_log");
    if (!exists.ok()) return exists.status();
    if (!*exists) return 0;
    auto txn = store::WriteTransaction::Begin(db);
    if (!txn.ok()) return txn.status();
    pruned =
        store::PruneChangeLog(db, older_than_ms, keep_rows, kPruneBatchRows);
    if (!pruned.ok()) return pruned.status();
    if (*pruned == 0) return 0;
    if (absl::Status s = (*txn)->Commit(); !s.ok()) return s;
  }
  RequestCheckpoint();
  return pruned;
}

void Writer::CloseConnections() {
  {
    absl::MutexLock lock(&mu_);
    connection_.reset();
  }
  absl::MutexLock lock(&checkpoint_mu_);
  checkpoint_mu_.Await(absl::Condition(
      +[](Writer* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(w->checkpoint_mu_) {
        return !w->checkpointing_;
      },
      this));
  checkpoint_db_.reset();
}

void Writer::RequestCheckpoint() {
  absl::MutexLock lock(&checkpoint_mu_);
  checkpoint_wanted_ = true;
}

void Writer::WatchLogSize(store::Database& db) {
  sqlite3_wal_hook(
      db.handle(),
      +[](void* arg, sqlite3*, const char*, int frames) {
        Writer* writer = static_cast<Writer*>(arg);
        const int before = writer->wal_frames_.exchange(frames);
        // Fewer than before: this commit started the log over.
        writer->last_commit_frames_.store(frames >= before ? frames - before
                                                           : frames);
        return SQLITE_OK;
      },
      this);
}

void Writer::WaitForCheckpointIfLogIsLarge() {
  const int frames = wal_frames_.load();
  if (frames < wal_frames_before_wait_) return;
  if (last_commit_frames_.load() < wal_frames_before_wait_ / 16 &&
      frames < 4 * wal_frames_before_wait_) {
    return;
  }
  // Every commit asks for a checkpoint after it: with none asked for and
  // none running, all commits so far have been checkpointed (as far as
  // readers allowed).
  absl::MutexLock lock(&checkpoint_mu_);
  checkpoint_mu_.AwaitWithTimeout(
      absl::Condition(
          +[](Writer* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(w->checkpoint_mu_) {
            return !w->checkpoint_wanted_ && !w->checkpointing_;
          },
          this),
      absl::Seconds(5));
}

void Writer::CheckpointLoop() {
  bool stop = false;
  while (!stop) {
    std::unique_ptr<store::Database> db;
    {
      absl::MutexLock lock(&checkpoint_mu_);
      checkpoint_mu_.Await(absl::Condition(
          +[](Writer* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(w->checkpoint_mu_) {
            return w->checkpoint_wanted_ || w->stopping_;
          },
          this));
      stop = stopping_;
      if (!checkpoint_wanted_) break;
      checkpoint_wanted_ = false;
      checkpointing_ = true;
      db = std::move(checkpoint_db_);
    }
    // PASSIVE: copies what no reader still needs, waiting for nobody.
    // Writes that commit meanwhile ask again.
    if (db == nullptr) {
      store::OpenOptions open;
      open.create = false;
      auto opened = pool_->OpenOwn(open);
      if (opened.ok()) db = *std::move(opened);
    }
    if (db != nullptr) {
      if (absl::Status s = db->Exec("PRAGMA wal_checkpoint(PASSIVE)");
          !s.ok()) {
        LogLine(absl::StrCat("checkpoint of ", pool_->path(),
                             " failed: ", s.message()));
        db.reset();
      }
    }
    absl::MutexLock lock(&checkpoint_mu_);
    checkpoint_db_ = std::move(db);
    checkpointing_ = false;
  }
}

}  // namespace pulse::orgdata
