#ifndef PULSE_LIBS_STORE_SQL_H_
#define PULSE_LIBS_STORE_SQL_H_

// SQLite for the layers above libs/store: a connection and its statements,
// through SQLite's C API, reporting every failure as an absl::Status
// (FromSqliteError's codes) instead of an exception.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "sqlite3.h"

namespace pulse::store {

// A prepared statement. Bind, step, read the row's columns, reset. Owned
// by whoever prepared it (a Database's Prepare hands it over; a pooled
// Connection keeps its own). One thread at a time.
class Statement {
 public:
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  // Parameters are numbered from 1, as ?1, ?2... in the SQL. Text is
  // copied. An index out of range is reported by the next Step or Run.
  void Bind(int index, int64_t value);
  void Bind(int index, int value) { Bind(index, static_cast<int64_t>(value)); }
  void Bind(int index, double value);
  void Bind(int index, absl::string_view value);
  void Bind(int index, const char* value) {
    Bind(index, absl::string_view(value));
  }
  void Bind(int index, const std::string& value) {
    Bind(index, absl::string_view(value));
  }
  // Not copied: `value` must stay as it is until the statement is reset
  // or the parameter bound again (bulk loads).
  void BindView(int index, absl::string_view value);
  void BindNull(int index);
  template <typename T>
  void Bind(int index, const std::optional<T>& value) {
    if (value.has_value()) {
      Bind(index, *value);
    } else {
      BindNull(index);
    }
  }

  // Steps once: true when a row is ready to read, false when the statement
  // has finished. On failure the statement is reset.
  absl::StatusOr<bool> Step();
  // Steps to the end, ignoring any rows (a write, a pragma), and rewinds
  // it for another run (bindings kept).
  absl::Status Run();
  // Steps through every row, calling `row` on each (which reads the
  // columns); stops at the first error, `row`'s or SQLite's.
  absl::Status ForEachRow(const std::function<absl::Status()>& row);
  // Ready to run again, with its bindings kept; ends any read it held.
  void Reset();
  // Reset, and every parameter back to NULL.
  void Clear();

  // The current row's columns, numbered from 0.
  bool IsNull(int column) const;
  int64_t Int64(int column) const;
  double Double(int column) const;
  // "" for NULL.
  std::string Text(int column) const;
  // Valid until the next Step, Reset or read of the same column as
  // another type.
  absl::string_view TextView(int column) const;
  std::optional<int64_t> OptionalInt64(int column) const;
  std::optional<std::string> OptionalText(int column) const;

  // The SQL, for messages.
  absl::string_view sql() const;
  // For loops that read many rows through SQLite's C API.
  sqlite3_stmt* handle() { return stmt_; }

 private:
  friend class Database;
  explicit Statement(sqlite3_stmt* stmt) : stmt_(stmt) {}

  sqlite3_stmt* stmt_ = nullptr;
  // The first bind error, reported by the next Step or Run.
  int bind_error_ = SQLITE_OK;
};

// A connection to a database file, or a view of one opened elsewhere.
class Database {
 public:
  // A view of `handle`, which stays owned by whoever opened it.
  explicit Database(sqlite3* handle) : db_(handle) {}
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;
  ~Database();

  // Runs every statement of `sql` in order (no parameters, rows ignored),
  // in whatever transaction is open. On failure the error names the
  // failing statement (trimmed) and its position; statements before it
  // have run.
  absl::Status Exec(absl::string_view sql);
  // The same, calling `after_each` with each statement's text once it has
  // run; its error stops the script.
  absl::Status Exec(
      absl::string_view sql,
      const std::function<absl::Status(absl::string_view)>& after_each);
  // `persistent`: kept long and run often (SQLITE_PREPARE_PERSISTENT).
  absl::StatusOr<Statement> Prepare(absl::string_view sql,
                                    bool persistent = false);
  // The first column of the first row of `sql`, as an integer (0 when
  // there is no row): a count, an EXISTS, a pragma.
  absl::StatusOr<int64_t> SelectInt(absl::string_view sql);
  // Rows changed by the last INSERT, UPDATE or DELETE.
  int64_t Changes() const;
  int64_t LastInsertRowId() const;

  // The path it was opened with (for a view, the main database's file as
  // SQLite resolved it; "" in memory).
  std::string filename() const;
  sqlite3* handle() const { return db_; }

 private:
  friend absl::StatusOr<std::unique_ptr<Database>> OpenDatabase(
      const std::string& path, int flags, int busy_timeout_ms);
  Database(sqlite3* handle, std::string path)
      : db_(handle), owned_(true), path_(std::move(path)) {}

  sqlite3* db_;
  bool owned_ = false;
  std::string path_;
};

// `status` with its message prefixed by `context` (its code kept), for
// errors passed up through a layer that knows what was being done.
absl::Status WithContext(const absl::Status& status, absl::string_view context);

// Opens `path` with sqlite3_open_v2's `flags`, waiting up to
// `busy_timeout_ms` for other connections' locks. The connection is closed
// with the Database.
absl::StatusOr<std::unique_ptr<Database>> OpenDatabase(const std::string& path,
                                                       int flags,
                                                       int busy_timeout_ms);

}  // namespace pulse::store

#endif  // PULSE_LIBS_STORE_SQL_H_
