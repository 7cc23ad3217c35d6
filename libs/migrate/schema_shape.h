#ifndef PULSE_LIBS_MIGRATE_SCHEMA_SHAPE_H_
#define PULSE_LIBS_MIGRATE_SCHEMA_SHAPE_H_

#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "libs/store/sql.h"

namespace pulse::migrate {

// What a schema holds, for comparing it before and after a script: the
// data guard (what a step would drop) and lint (what a revision changes).
struct ColumnShape {
  std::string name;
  std::string type;  // As declared, upper case.
  bool not_null = false;
};

struct TableShape {
  std::vector<ColumnShape> columns;
  std::string sql;  // NormalizeSql of its CREATE TABLE.
  int checks = 0;   // CHECK constraints, table and column ones.

  const ColumnShape* Find(absl::string_view column) const;
};

// An index (one written in SQL: not a UNIQUE's automatic one), trigger or
// view.
struct ObjectShape {
  std::string type;
  std::string table;
  std::string sql;  // NormalizeSql.
};

struct SchemaShape {
  std::map<std::string, TableShape> tables;
  std::map<std::string, ObjectShape> objects;
};

// The user schema of `db`: SQLite's own objects and the migrator's
// bookkeeping tables are left out.
absl::StatusOr<SchemaShape> ReadShape(store::Database& db);

// sqlite_schema's text made comparable: whitespace collapsed, and the
// quotes SQLite puts around a table's name when it renames it removed.
std::string NormalizeSql(absl::string_view sql);

// A new in-memory database holding `db`'s user schema and no rows, for
// replaying scripts on without touching `db`.
absl::StatusOr<std::unique_ptr<store::Database>> CopySchema(
    store::Database& db);

// What going from `before` to `after` removes that may hold data.
struct Removal {
  std::vector<std::string> tables;
  // (table, column): gone from a table that stays.
  std::vector<std::pair<std::string, std::string>> columns;
  // Tables that stay under a new definition (rebuilt: their rows were
  // copied by the script, perhaps not all of them).
  std::vector<std::string> rebuilt;

  bool empty() const {
    return tables.empty() && columns.empty() && rebuilt.empty();
  }
};
Removal Removed(const SchemaShape& before, const SchemaShape& after);

// What running a script did, read from the schema's shape after each of
// its statements.
struct ScriptReplay {
  SchemaShape before, after;
  // The statements that ran, in order.
  std::vector<std::string> statements;
  // Table or object name -> index in `statements` of the last statement
  // that created, changed or dropped it.
  std::map<std::string, size_t> last_change;
  // Tables a statement dropped (those in `after` were rebuilt); a table
  // one statement replaced by a new one of the same columns was renamed.
  std::set<std::string> vanished, renamed_tables;
  // (table, column): a column a statement gave another name.
  std::set<std::pair<std::string, std::string>> renamed_columns;
  // The script's own outcome (the statements after a failing one did not
  // run).
  absl::Status status;
};

// Runs `sql` on `db`, in whatever transaction is open, reading the shape
// after each statement (a shape that cannot be read stops the script like
// a failing statement). An error only when the shape before or after
// cannot be read.
absl::StatusOr<ScriptReplay> ReplayScript(store::Database& db,
                                          absl::string_view sql);

// Data the database derives from other data, which a step may drop
// without losing anything: the subtree index (employees.org_path, which
// its revision rebuilds from manager_id) and its generation token; and
// the change feed's log (and its commits), kept for a week at most, whose
// loss only makes older tokens OUT_OF_RANGE (readers are told to read
// afresh); the search index (employee_search and its FTS5 shadow tables),
// rebuilt from employees. A table when `column` is empty.
bool IsDerivedData(absl::string_view table, absl::string_view column = "");

// Quotes `name` as an SQL identifier.
std::string QuoteIdentifier(absl::string_view name);

}  // namespace pulse::migrate

#endif  // PULSE_LIBS_MIGRATE_SCHEMA_SHAPE_H_
