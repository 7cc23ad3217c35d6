#include "libs/store/store.h"

#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "SQLiteCpp/Backup.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace pulse::store {
namespace {

constexpr size_t kMaxStatementInError = 200;

std::string Abbreviate(absl::string_view sql) {
  std::string s(absl::StripAsciiWhitespace(sql));
  for (char& c : s) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  if (s.size() > kMaxStatementInError) {
    s = absl::StrCat(s.substr(0, kMaxStatementInError), "...");
  }
  return s;
}

}  // namespace

void ConfigureSqliteForServers() { sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); }

absl::Status FromSqliteError(int extended_code, absl::string_view message,
                             absl::string_view context) {
  const std::string text = absl::StrCat(context, ": ", message);
  switch (extended_code & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return absl::UnavailableError(text);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return absl::DataLossError(text);
    case SQLITE_READONLY:
      return absl::FailedPreconditionError(text);
    case SQLITE_INTERRUPT:  // A progress handler asked to stop.
      return absl::CancelledError(text);
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_IOERR:
      return absl::UnavailableError(text);
    default:
      return absl::InternalError(text);
  }
}

absl::Status FromStatementError(sqlite3_stmt* statement,
                                absl::string_view context) {
  sqlite3* db = sqlite3_db_handle(statement);
  absl::Status status = FromSqliteError(sqlite3_extended_errcode(db),
                                        sqlite3_errmsg(db), context);
  sqlite3_reset(statement);
  return status;
}

absl::Status FromException(const SQLite::Exception& e,
                           absl::string_view context) {
  return FromSqliteError(e.getExtendedErrorCode(), e.what(), context);
}

absl::StatusOr<std::unique_ptr<SQLite::Database>> Open(
    const std::string& path, const OpenOptions& options) {
  struct stat st;
  const bool exists = ::stat(path.c_str(), &st) == 0;
  if (!exists && (options.read_only || !options.create)) {
    return absl::NotFoundError(
        absl::StrCat("database file ", path, " does not exist"));
  }
  int flags =
      options.read_only
          ? SQLite::OPEN_READONLY
          : SQLite::OPEN_READWRITE | (options.create ? SQLite::OPEN_CREATE : 0);
  flags |= SQLITE_OPEN_NOMUTEX;
  try {
    auto db = std::make_unique<SQLite::Database>(
        path, flags,
        static_cast<int>(absl::ToInt64Milliseconds(options.busy_timeout)));
    db->exec("PRAGMA foreign_keys = ON");
    if (!options.read_only) {
      // WAL lets the read-only org-data service read while a migration
      // writes. Reading the journal mode also proves the file is a database.
      // Switching to WAL needs a moment of exclusive access, and SQLite
      // does not wait for it on its own: retry within the busy timeout.
      const absl::Time deadline = absl::Now() + options.busy_timeout;
      while (true) {
        try {
          db->exec("PRAGMA journal_mode = WAL");
          break;
        } catch (const SQLite::Exception& e) {
          if ((e.getErrorCode() & 0xff) != SQLITE_BUSY ||
              absl::Now() >= deadline) {
            throw;
          }
          absl::SleepFor(absl::Milliseconds(10));
        }
      }
      db->exec("PRAGMA synchronous = NORMAL");
    } else {
      db->exec("SELECT count(*) FROM sqlite_schema");
      // Readers stream index ranges, which the OS page cache serves as well;
      // a small private cache keeps each open stream's memory small.
      db->exec("PRAGMA cache_size = -256");
    }
    return db;
  } catch (const SQLite::Exception& e) {
    absl::Status status = FromException(e, absl::StrCat("opening ", path));
    if (absl::IsDataLoss(status)) {
      return absl::FailedPreconditionError(status.message());
    }
    return status;
  }
}

absl::Status ExecScript(SQLite::Database& db, absl::string_view sql) {
  sqlite3* handle = db.getHandle();
  std::string text(sql);
  const char* tail = text.c_str();
  int index = 0;
  while (tail != nullptr && *tail != '\0') {
    sqlite3_stmt* stmt = nullptr;
    const char* start = tail;
    int rc = sqlite3_prepare_v2(handle, start, -1, &stmt, &tail);
    absl::string_view statement(start, tail - start);
    if (rc != SQLITE_OK) {
      // SQLite stops the tail at the error; show the statement up to its
      // end instead.
      absl::string_view rest(start);
      statement = rest.substr(0, rest.find(';'));
      return FromSqliteError(sqlite3_extended_errcode(handle),
                             sqlite3_errmsg(handle),
                             absl::StrCat("statement ", index + 1, " `",
                                          Abbreviate(statement), "`"));
    }
    if (stmt == nullptr) break;  // Only whitespace or comments were left.
    ++index;
    do {
      rc = sqlite3_step(stmt);
    } while (rc == SQLITE_ROW);
    if (rc != SQLITE_DONE) {
      absl::Status status = FromSqliteError(
          sqlite3_extended_errcode(handle), sqlite3_errmsg(handle),
          absl::StrCat("statement ", index, " `", Abbreviate(statement), "`"));
      sqlite3_finalize(stmt);
      return status;
    }
    sqlite3_finalize(stmt);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<WriteTransaction>> WriteTransaction::Begin(
    SQLite::Database& db) {
  try {
    db.exec("BEGIN IMMEDIATE");
  } catch (const SQLite::Exception& e) {
    return FromException(e, "beginning a write transaction");
  }
  return std::unique_ptr<WriteTransaction>(new WriteTransaction(db));
}

ReadTransaction::ReadTransaction(SQLite::Database& db) : db_(db) {
  db_.exec("BEGIN");
}

ReadTransaction::~ReadTransaction() {
  try {
    db_.exec("COMMIT");
  } catch (const SQLite::Exception&) {
    // A read has nothing to lose; SQLite may already have ended it.
  }
}

WriteTransaction::~WriteTransaction() {
  if (done_) return;
  try {
    db_.exec("ROLLBACK");
  } catch (const SQLite::Exception&) {
    // SQLite may already have rolled back after an error such as a full
    // disk; there is nothing left to undo.
  }
}

absl::Status WriteTransaction::Commit() {
  try {
    db_.exec("COMMIT");
    done_ = true;
    return absl::OkStatus();
  } catch (const SQLite::Exception& e) {
    return FromException(e, "committing");
  }
}

absl::StatusOr<bool> TableExists(SQLite::Database& db,
                                 absl::string_view table) {
  try {
    SQLite::Statement q(
        db, "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?");
    q.bind(1, std::string(table));
    return q.executeStep();
  } catch (const SQLite::Exception& e) {
    return FromException(e, absl::StrCat("looking up table ", table));
  }
}

std::vector<std::string> SuspendIndexesAndTriggers(
    SQLite::Database& db, absl::string_view table,
    const std::vector<std::string>& keep) {
  // Indexes before triggers (ORDER BY type), so that they are rebuilt
  // before any trigger that might use them exists again.
  SQLite::Statement q(db,
                      "SELECT type, name, sql FROM sqlite_schema WHERE "
                      "tbl_name = ? AND type IN ('index', 'trigger') AND sql "
                      "IS NOT NULL ORDER BY type");
  q.bind(1, std::string(table));
  std::vector<std::pair<std::string, std::string>> drops;
  while (q.executeStep()) {
    const std::string name = q.getColumn(1).getString();
    if (std::find(keep.begin(), keep.end(), name) != keep.end()) continue;
    drops.emplace_back(absl::StrCat("DROP ", q.getColumn(0).getString(), " \"",
                                    q.getColumn(1).getString(), "\""),
                       q.getColumn(2).getString());
  }
  q.reset();
  std::vector<std::string> creates;
  for (auto& [drop, create] : drops) {
    db.exec(drop);
    creates.push_back(std::move(create));
  }
  return creates;
}

void RestoreSchema(SQLite::Database& db, const std::vector<std::string>& sql) {
  for (const std::string& statement : sql) db.exec(statement);
}

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
  int64_t pages = 0;
  try {
    SQLite::Database copy(partial,
                          SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    SQLite::Backup backup(copy, **source);
    // All pages in one step: one read snapshot, so one committed state.
    backup.executeStep(-1);
    pages = backup.getTotalPageCount();
  } catch (const SQLite::Exception& e) {
    ::unlink(partial.c_str());
    return FromException(e, absl::StrCat("backing up ", db_path, " to ", to));
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
  try {
    SQLite::Backup backup(**live, **source);
    const int rc = backup.executeStep(-1);
    if (rc != SQLITE_DONE) {
      return FromSqliteError(
          rc, sqlite3_errstr(rc),
          absl::StrCat("restoring ", from, " into ", db_path));
    }
    return static_cast<int64_t>(backup.getTotalPageCount());
  } catch (const SQLite::Exception& e) {
    return FromException(e,
                         absl::StrCat("restoring ", from, " into ", db_path));
  }
}

}  // namespace pulse::store
