#include "libs/store/sql.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "libs/store/store.h"

namespace pulse::store {
namespace {

constexpr size_t kMaxStatementInError = 200;

// The statement on one line, cut at kMaxStatementInError characters.
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

absl::Status ConnectionError(sqlite3* db, absl::string_view context) {
  return FromSqliteError(sqlite3_extended_errcode(db), sqlite3_errmsg(db),
                         context);
}

}  // namespace

absl::Status WithContext(const absl::Status& status,
                         absl::string_view context) {
  if (status.ok()) return status;
  absl::Status prefixed(status.code(),
                        absl::StrCat(context, ": ", status.message()));
  status.ForEachPayload(
      [&prefixed](absl::string_view url, const absl::Cord& payload) {
        prefixed.SetPayload(url, payload);
      });
  return prefixed;
}

Statement::Statement(Statement&& other) noexcept
    : stmt_(std::exchange(other.stmt_, nullptr)),
      bind_error_(other.bind_error_) {}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(stmt_);
    stmt_ = std::exchange(other.stmt_, nullptr);
    bind_error_ = other.bind_error_;
  }
  return *this;
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

namespace {
void Remember(int rc, int* first_error) {
  if (rc != SQLITE_OK && *first_error == SQLITE_OK) *first_error = rc;
}
}  // namespace

void Statement::Bind(int index, int64_t value) {
  Remember(sqlite3_bind_int64(stmt_, index, value), &bind_error_);
}

void Statement::Bind(int index, double value) {
  Remember(sqlite3_bind_double(stmt_, index, value), &bind_error_);
}

void Statement::Bind(int index, absl::string_view value) {
  Remember(sqlite3_bind_text(stmt_, index, value.data(),
                             static_cast<int>(value.size()), SQLITE_TRANSIENT),
           &bind_error_);
}

void Statement::BindView(int index, absl::string_view value) {
  Remember(sqlite3_bind_text(stmt_, index, value.data(),
                             static_cast<int>(value.size()), SQLITE_STATIC),
           &bind_error_);
}

void Statement::BindNull(int index) {
  Remember(sqlite3_bind_null(stmt_, index), &bind_error_);
}

absl::StatusOr<bool> Statement::Step() {
  if (bind_error_ != SQLITE_OK) {
    const int rc = std::exchange(bind_error_, SQLITE_OK);
    return FromSqliteError(
        rc, sqlite3_errstr(rc),
        absl::StrCat("binding the parameters of `", Abbreviate(sql()), "`"));
  }
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return FromStatementError(stmt_, absl::StrCat("`", Abbreviate(sql()), "`"));
}

absl::Status Statement::Run() {
  while (true) {
    absl::StatusOr<bool> row = Step();
    if (!row.ok()) return row.status();  // Step has reset it.
    if (!*row) {
      sqlite3_reset(stmt_);
      return absl::OkStatus();
    }
  }
}

absl::Status Statement::ForEachRow(const std::function<absl::Status()>& row) {
  while (true) {
    absl::StatusOr<bool> more = Step();
    if (!more.ok()) return more.status();
    if (!*more) return absl::OkStatus();
    if (absl::Status s = row(); !s.ok()) {
      Reset();
      return s;
    }
  }
}

void Statement::Reset() { sqlite3_reset(stmt_); }

void Statement::Clear() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  bind_error_ = SQLITE_OK;
}

bool Statement::IsNull(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

int64_t Statement::Int64(int column) const {
  return sqlite3_column_int64(stmt_, column);
}

double Statement::Double(int column) const {
  return sqlite3_column_double(stmt_, column);
}

absl::string_view Statement::TextView(int column) const {
  const auto* text =
      reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
  if (text == nullptr) return {};
  return absl::string_view(text, sqlite3_column_bytes(stmt_, column));
}

std::string Statement::Text(int column) const {
  return std::string(TextView(column));
}

std::optional<int64_t> Statement::OptionalInt64(int column) const {
  if (IsNull(column)) return std::nullopt;
  return Int64(column);
}

std::optional<std::string> Statement::OptionalText(int column) const {
  if (IsNull(column)) return std::nullopt;
  return Text(column);
}

absl::string_view Statement::sql() const {
  const char* sql = sqlite3_sql(stmt_);
  return sql == nullptr ? absl::string_view() : absl::string_view(sql);
}

Database::~Database() {
  if (owned_) sqlite3_close_v2(db_);
}

absl::Status Database::Exec(absl::string_view sql) {
  return Exec(sql, nullptr);
}

absl::Status Database::Exec(
    absl::string_view sql,
    const std::function<absl::Status(absl::string_view)>& after_each) {
  std::string text(sql);
  const char* tail = text.c_str();
  int index = 0;
  while (tail != nullptr && *tail != '\0') {
    sqlite3_stmt* stmt = nullptr;
    const char* start = tail;
    int rc = sqlite3_prepare_v2(db_, start, -1, &stmt, &tail);
    absl::string_view statement(start, tail - start);
    if (rc != SQLITE_OK) {
      // SQLite stops the tail at the error; show the statement up to its
      // end instead.
      absl::string_view rest(start);
      statement = rest.substr(0, rest.find(';'));
      return ConnectionError(db_, absl::StrCat("statement ", index + 1, " `",
                                               Abbreviate(statement), "`"));
    }
    if (stmt == nullptr) break;  // Only whitespace or comments were left.
    ++index;
    do {
      rc = sqlite3_step(stmt);
    } while (rc == SQLITE_ROW);
    if (rc != SQLITE_DONE) {
      absl::Status status = ConnectionError(
          db_,
          absl::StrCat("statement ", index, " `", Abbreviate(statement), "`"));
      sqlite3_finalize(stmt);
      return status;
    }
    sqlite3_finalize(stmt);
    if (after_each) {
      if (absl::Status s = after_each(absl::StripAsciiWhitespace(statement));
          !s.ok()) {
        return s;
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Statement> Database::Prepare(absl::string_view sql,
                                            bool persistent) {
  sqlite3_stmt* stmt = nullptr;
  const int rc = sqlite3_prepare_v3(
      db_, sql.data(), static_cast<int>(sql.size()),
      persistent ? SQLITE_PREPARE_PERSISTENT : 0, &stmt, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(stmt);
    return ConnectionError(db_,
                           absl::StrCat("preparing `", Abbreviate(sql), "`"));
  }
  return Statement(stmt);
}

std::string Database::filename() const {
  if (owned_) return path_;
  const char* name = sqlite3_db_filename(db_, "main");
  return name == nullptr ? std::string() : std::string(name);
}

absl::StatusOr<int64_t> Database::SelectInt(absl::string_view sql) {
  absl::StatusOr<Statement> q = Prepare(sql);
  if (!q.ok()) return q.status();
  absl::StatusOr<bool> row = q->Step();
  if (!row.ok()) return row.status();
  return *row ? q->Int64(0) : 0;
}

int64_t Database::Changes() const { return sqlite3_changes64(db_); }

int64_t Database::LastInsertRowId() const {
  return sqlite3_last_insert_rowid(db_);
}

absl::StatusOr<std::unique_ptr<Database>> OpenDatabase(const std::string& path,
                                                       int flags,
                                                       int busy_timeout_ms) {
  sqlite3* handle = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &handle, flags, nullptr);
  // The handle is closed with the Database, whether the open worked or not.
  std::unique_ptr<Database> db(new Database(handle, path));
  if (rc != SQLITE_OK) {
    if (handle == nullptr) {
      return FromSqliteError(rc, sqlite3_errstr(rc),
                             absl::StrCat("opening ", path));
    }
    return ConnectionError(handle, absl::StrCat("opening ", path));
  }
  sqlite3_extended_result_codes(handle, 1);
  sqlite3_busy_timeout(handle, busy_timeout_ms);
  return db;
}

}  // namespace pulse::store
