#ifndef PULSE_LIBS_STORE_STORE_H_
#define PULSE_LIBS_STORE_STORE_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "libs/store/sql.h"
#include "sqlite3.h"

namespace pulse::store {

struct OpenOptions {
  // Open with SQLITE_OPEN_READONLY: even a bug cannot write.
  bool read_only = false;
  // Create the file when missing (ignored when read_only).
  bool create = true;
  // How long a statement waits for another connection's lock before
  // failing with SQLITE_BUSY (mapped to UNAVAILABLE).
  absl::Duration busy_timeout = absl::Seconds(5);
};

// Process-wide SQLite settings for servers; call first thing in main,
// before any connection exists. Turns off SQLite's memory statistics,
// whose global mutex every allocation would otherwise take (the org-data
// service's streams contended on it).
void ConfigureSqliteForServers();

// Opens `path` with foreign keys enforced and, for writers, WAL journaling.
// NOT_FOUND when the file is missing and may not be created, UNAVAILABLE
// when it cannot be opened, FAILED_PRECONDITION when it is not a database.
absl::StatusOr<std::unique_ptr<Database>> Open(const std::string& path,
                                               const OpenOptions& options);

// Maps a SQLite error to a status whose message starts with `context`.
// SQLITE_BUSY and SQLITE_LOCKED map to UNAVAILABLE (retry the call),
// corruption to DATA_LOSS, a read-only database to FAILED_PRECONDITION, an
// interrupt (a progress handler's) to CANCELLED, the rest to INTERNAL.
absl::Status FromSqliteError(int extended_code, absl::string_view message,
                             absl::string_view context);
// What FromSqliteError was given, carried by the status it made: SQLite's
// extended result code (0 for any other status) and its own message
// (without the context; the status's message for any other status).
int SqliteCode(const absl::Status& status);
std::string SqliteMessage(const absl::Status& status);
// The error a raw statement's sqlite3_step just returned, mapped as above;
// resets the statement.
absl::Status FromStatementError(sqlite3_stmt* statement,
                                absl::string_view context);

// A write transaction begun with BEGIN IMMEDIATE (so the write lock is
// taken at once, not at the first write), rolled back on destruction unless
// committed. On a schema with the change log's commit table, Commit()
// records the changes it logged as one commit (change_log.h). Not
// thread-safe; one per connection at a time.
class WriteTransaction {
 public:
  static absl::StatusOr<std::unique_ptr<WriteTransaction>> Begin(Database& db);
  ~WriteTransaction();
  WriteTransaction(const WriteTransaction&) = delete;
  WriteTransaction& operator=(const WriteTransaction&) = delete;

  absl::Status Commit();

 private:
  explicit WriteTransaction(Database& db) : db_(db) {}
  Database& db_;
  bool done_ = false;
  // The change log's last seq at BEGIN; nullopt without the commit table.
  std::optional<int64_t> logged_before_;
};

// A read transaction (BEGIN; COMMIT on destruction) for reads that must
// come from one snapshot.
class ReadTransaction {
 public:
  static absl::StatusOr<std::unique_ptr<ReadTransaction>> Begin(Database& db);
  ~ReadTransaction();
  ReadTransaction(const ReadTransaction&) = delete;
  ReadTransaction& operator=(const ReadTransaction&) = delete;

 private:
  explicit ReadTransaction(Database& db) : db_(db) {}
  Database& db_;
};

// Drops the indexes and triggers of `table` (for a bulk load inside the
// caller's transaction: building an index from the loaded rows beats
// inserting into it row by row) and returns the statements that recreate
// them exactly as they were, for RestoreSchema. Indexes named in `keep`
// stay.
absl::StatusOr<std::vector<std::string>> SuspendIndexesAndTriggers(
    Database& db, absl::string_view table,
    const std::vector<std::string>& keep = {});
// Runs the statements SuspendIndexesAndTriggers returned.
absl::Status RestoreSchema(Database& db, const std::vector<std::string>& sql);
// After a bulk load of employees whose triggers were set aside (and are
// restored), brings up to date what the triggers keep: replaces the path
// generation, logs one organisation_reloaded, rebuilds the search index
// (employee_search); each only where the schema has it.
absl::Status RefreshAfterBulkLoad(Database& db);

// Copies the database at `db_path` to a new file `to` through SQLite's
// online backup API, in one read snapshot: a consistent copy of one
// committed state, taken while other connections read and write (in WAL
// mode no writer waits for it). The copy is written beside `to` and
// renamed into place, so `to` is whole or absent. Returns the pages
// copied. ALREADY_EXISTS when `to` exists; NOT_FOUND when the database
// does not; UNAVAILABLE when `to` cannot be written.
absl::StatusOr<int64_t> Backup(const std::string& db_path,
                               const std::string& to);

// Puts the copy at `from` back into the live database at `db_path`,
// through the online backup API in one write transaction: connections
// reading keep the snapshot they began with, later reads see exactly the
// copy, and the database's log and shared index stay its own (unlike a
// copy or rename of the file under open connections, which SQLite's
// documentation lists as a way to corrupt it). Returns the pages copied.
// NOT_FOUND when either file is missing; UNAVAILABLE when the database is
// busy past the busy timeout.
absl::StatusOr<int64_t> RestoreInto(const std::string& db_path,
                                    const std::string& from);

// True when `table` exists in the main schema.
absl::StatusOr<bool> TableExists(Database& db, absl::string_view table);

}  // namespace pulse::store

#endif  // PULSE_LIBS_STORE_STORE_H_
