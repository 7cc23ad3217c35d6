#include "libs/store/store.h"

#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libs/store/change_log.h"
#include "libs/store/path.h"

namespace pulse::store {

void ConfigureSqliteForServers() { sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); }

namespace {

constexpr char kSqlitePayload[] = "type.pulse.dev/sqlite-error";

absl::StatusCode CodeFor(int extended_code) {
  switch (extended_code & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return absl::StatusCode::kUnavailable;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return absl::StatusCode::kDataLoss;
    case SQLITE_READONLY:
      return absl::StatusCode::kFailedPrecondition;
    case SQLITE_INTERRUPT:  // A progress handler asked to stop.
      return absl::StatusCode::kCancelled;
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_IOERR:
      return absl::StatusCode::kUnavailable;
    default:
      return absl::StatusCode::kInternal;
  }
}

}  // namespace

absl::Status FromSqliteError(int extended_code, absl::string_view message,
                             absl::string_view context) {
  absl::Status status(CodeFor(extended_code),
                      absl::StrCat(context, ": ", message));
  status.SetPayload(kSqlitePayload,
                    absl::Cord(absl::StrCat(extended_code, ":", message)));
  return status;
}

int SqliteCode(const absl::Status& status) {
  auto payload = status.GetPayload(kSqlitePayload);
  if (!payload.has_value()) return 0;
  const std::string text(*payload);
  int code = 0;
  if (!absl::SimpleAtoi(text.substr(0, text.find(':')), &code)) return 0;
  return code;
}

std::string SqliteMessage(const absl::Status& status) {
  auto payload = status.GetPayload(kSqlitePayload);
  if (!payload.has_value()) return std::string(status.message());
  const std::string text(*payload);
  return text.substr(text.find(':') + 1);
}

absl::Status FromStatementError(sqlite3_stmt* statement,
                                absl::string_view context) {
  sqlite3* db = sqlite3_db_handle(statement);
  absl::Status status = FromSqliteError(sqlite3_extended_errcode(db),
                                        sqlite3_errmsg(db), context);
  sqlite3_reset(statement);
  return status;
}

absl::StatusOr<std::unique_ptr<Database>> Open(const std::string& path,
                                               const OpenOptions& options) {
  struct stat st;
  const bool exists = ::stat(path.c_str(), &st) == 0;
  if (!exists && (options.read_only || !options.create)) {
    return absl::NotFoundError(
        absl::StrCat("database file ", path, " does not exist"));
  }
  int flags = options.read_only ? SQLITE_OPEN_READONLY
                                : SQLITE_OPEN_READWRITE |
                                      (options.create ? SQLITE_OPEN_CREATE : 0);
  flags |= SQLITE_OPEN_NOMUTEX;
  auto opened = OpenDatabase(
      path, flags,
      static_cast<int>(absl::ToInt64Milliseconds(options.busy_timeout)));
  absl::Status status = opened.status();
  if (status.ok()) {
    std::unique_ptr<Database>& db = *opened;
    status = db->Exec("PRAGMA foreign_keys = ON");
    if (status.ok() && !options.read_only) {
      // WAL lets the read-only org-data service read while a migration
      // writes. Reading the journal mode also proves the file is a
      // database. Switching to WAL needs a moment of exclusive access, and
      // SQLite does not wait for it on its own: retry within the busy
      // timeout.
      const absl::Time deadline = absl::Now() + options.busy_timeout;
      while (true) {
        status = db->Exec("PRAGMA journal_mode = WAL");
        if ((SqliteCode(status) & 0xff) != SQLITE_BUSY ||
            absl::Now() >= deadline) {
          break;
        }
        absl::SleepFor(absl::Milliseconds(10));
      }
      if (status.ok()) status = db->Exec("PRAGMA synchronous = NORMAL");
    } else if (status.ok()) {
      status = db->Exec("SELECT count(*) FROM sqlite_schema");
      // Readers stream index ranges, which the OS page cache serves as
      // well; a small private cache keeps each open stream's memory small.
      if (status.ok()) status = db->Exec("PRAGMA cache_size = -256");
    }
    if (status.ok()) return std::move(db);
  }
  status = WithContext(status, absl::StrCat("opening ", path));
  if (absl::IsDataLoss(status)) {
    return absl::FailedPreconditionError(status.message());
  }
  return status;
}

absl::StatusOr<std::unique_ptr<WriteTransaction>> WriteTransaction::Begin(
    Database& db) {
  if (absl::Status s = db.Exec("BEGIN IMMEDIATE"); !s.ok()) {
    return WithContext(s, "beginning a write transaction");
  }
  std::unique_ptr<WriteTransaction> txn(new WriteTransaction(db));
  auto logged = LastLoggedSeq(db);
  if (!logged.ok())
    return WithContext(logged.status(), "reading the change log");
  txn->logged_before_ = *logged;
  return txn;
}

WriteTransaction::~WriteTransaction() {
  // SQLite may already have rolled back after an error such as a full
  // disk; there is nothing left to undo then.
  if (!done_) db_.Exec("ROLLBACK").IgnoreError();
}

absl::Status WriteTransaction::Commit() {
  if (logged_before_) {
    if (absl::Status s = RecordCommit(db_, *logged_before_); !s.ok()) {
      return WithContext(s, "recording the commit in the change log");
    }
  }
  if (absl::Status s = db_.Exec("COMMIT"); !s.ok()) {
    return WithContext(s, "committing");
  }
  done_ = true;
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<ReadTransaction>> ReadTransaction::Begin(
    Database& db) {
  if (absl::Status s = db.Exec("BEGIN"); !s.ok()) {
    return WithContext(s, "beginning a read transaction");
  }
  return std::unique_ptr<ReadTransaction>(new ReadTransaction(db));
}

ReadTransaction::~ReadTransaction() {
  // A read has nothing to lose; SQLite may already have ended it.
  db_.Exec("COMMIT").IgnoreError();
}

absl::StatusOr<bool> TableExists(Database& db, absl::string_view table) {
  auto q = db.Prepare(
      "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?");
  if (!q.ok()) return q.status();
  q->Bind(1, table);
  auto row = q->Step();
  if (!row.ok()) {
    return WithContext(row.status(), absl::StrCat("looking up table ", table));
  }
  return *row;
}

absl::StatusOr<std::vector<std::string>> SuspendIndexesAndTriggers(
    Database& db, absl::string_view table,
    const std::vector<std::string>& keep) {
  // Indexes before triggers (ORDER BY type), so that they are rebuilt
  // before any trigger that might use them exists again.
  auto q = db.Prepare(
      "SELECT type, name, sql FROM sqlite_schema WHERE tbl_name = ? AND type "
      "IN ('index', 'trigger') AND sql IS NOT NULL ORDER BY type");
  if (!q.ok()) return q.status();
  q->Bind(1, table);
  std::vector<std::pair<std::string, std::string>> drops;
  while (true) {
    auto row = q->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    const std::string name = q->Text(1);
    if (std::find(keep.begin(), keep.end(), name) != keep.end()) continue;
    drops.emplace_back(absl::StrCat("DROP ", q->Text(0), " \"", name, "\""),
                       q->Text(2));
  }
  q->Reset();
  std::vector<std::string> creates;
  for (auto& [drop, create] : drops) {
    if (absl::Status s = db.Exec(drop); !s.ok()) return s;
    creates.push_back(std::move(create));
  }
  return creates;
}

absl::Status RestoreSchema(Database& db, const std::vector<std::string>& sql) {
  for (const std::string& statement : sql) {
    if (absl::Status s = db.Exec(statement); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status RefreshAfterBulkLoad(Database& db) {
  if (absl::Status s = ReplacePathGeneration(db); !s.ok()) return s;
  if (absl::Status s = LogReload(db); !s.ok()) return s;
  auto search = TableExists(db, "employee_search");
  if (!search.ok()) return search.status();
  if (!*search) return absl::OkStatus();
  // The index is rebuilt with FTS5's usual merging (automerge 4,
  // crisismerge 16, as the writes after it have them), then merged into one
  // segment. The merging during the rebuild is what places that segment on
  // a high level: FTS5 merges a level once writes have filled it, and a
  // segment built unmerged sits on level 1, where the first few hundred
  // single-row writes rewrote it whole (docs/PERFORMANCE.md, "The first
  // writes after a bulk load").
  return db.Exec(
      "INSERT INTO employee_search (employee_search, rank) "
      "VALUES ('automerge', 4);"
      "INSERT INTO employee_search (employee_search, rank) "
      "VALUES ('crisismerge', 16);"
      "INSERT INTO employee_search (employee_search) VALUES ('rebuild');"
      "INSERT INTO employee_search (employee_search) VALUES ('optimize');");
}

namespace {

// Copies every page of `from` into `to` in one step (one read snapshot of
// `from`, one write transaction on `to`); the pages copied.
absl::StatusOr<int64_t> CopyPages(Database& to, Database& from,
                                  absl::string_view context) {
  sqlite3_backup* backup =
      sqlite3_backup_init(to.handle(), "main", from.handle(), "main");
  if (backup == nullptr) {
    return FromSqliteError(sqlite3_extended_errcode(to.handle()),
                           sqlite3_errmsg(to.handle()), context);
  }
  const int step = sqlite3_backup_step(backup, -1);
  const int64_t pages = sqlite3_backup_pagecount(backup);
  const int finish = sqlite3_backup_finish(backup);
  if (step != SQLITE_DONE) {
    return FromSqliteError(step, sqlite3_errstr(step), context);
  }
  if (finish != SQLITE_OK) {
    return FromSqliteError(sqlite3_extended_errcode(to.handle()),
                           sqlite3_errmsg(to.handle()), context);
  }
  return pages;
}

}  // namespace

absl::StatusOr<int64_t> Backup(const std::string& db_path,
                               const std::string& to) {
  struct stat st;
  if (::stat(to.c_str(), &st) == 0) {
    return absl::AlreadyExistsError(
        absl::StrCat(to, " exists; back up to a new file"));
  }
  OpenOptions open;
  open.read_only = true;
  auto source = Open(db_path, open);
  if (!source.ok()) return source.status();
  const std::string partial = absl::StrCat(to, ".partial");
  ::unlink(partial.c_str());
  absl::StatusOr<int64_t> pages;
  {
    auto copy =
        OpenDatabase(partial, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, 0);
    pages = copy.ok()
                ? CopyPages(**copy, **source,
                            absl::StrCat("backing up ", db_path, " to ", to))
                : copy.status();
  }
  if (!pages.ok()) {
    ::unlink(partial.c_str());
    return pages.status();
  }
  if (::rename(partial.c_str(), to.c_str()) != 0) {
    const std::string error = std::strerror(errno);
    ::unlink(partial.c_str());
    return absl::UnavailableError(
        absl::StrCat("cannot rename ", partial, " to ", to, ": ", error));
  }
  return pages;
}

absl::StatusOr<int64_t> RestoreInto(const std::string& db_path,
                                    const std::string& from) {
  struct stat st;
  if (::stat(from.c_str(), &st) != 0) {
    return absl::NotFoundError(absl::StrCat("no backup file ", from));
  }
  OpenOptions read;
  read.read_only = true;
  auto source = Open(from, read);
  if (!source.ok()) return source.status();
  OpenOptions write;
  write.create = false;
  auto live = Open(db_path, write);
  if (!live.ok()) return live.status();
  return CopyPages(**live, **source,
                   absl::StrCat("restoring ", from, " into ", db_path));
}

}  // namespace pulse::store
