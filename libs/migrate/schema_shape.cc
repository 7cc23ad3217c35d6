#include "libs/migrate/schema_shape.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "libs/store/store.h"

namespace pulse::migrate {
namespace {

// sqlite_schema without SQLite's own objects and the migrator's tables.
constexpr char kSelectObjects[] =
    "SELECT type, name, tbl_name, sql FROM sqlite_schema "
    "WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
    "AND tbl_name NOT IN ('pulse_version', 'pulse_migration_history', "
    "'pulse_migration_run', 'pulse_revision_graph') "
    "ORDER BY type <> 'table', rowid";
constexpr char kSelectColumns[] =
    "SELECT name, upper(type), \"notnull\" FROM pragma_table_info(?)";

int CountChecks(absl::string_view sql) {
  const std::string upper = absl::AsciiStrToUpper(sql);
  int checks = 0;
  for (size_t at = upper.find("CHECK"); at != std::string::npos;
       at = upper.find("CHECK", at + 5)) {
    const bool word_before =
        at > 0 && (absl::ascii_isalnum(upper[at - 1]) || upper[at - 1] == '_');
    const size_t end = at + 5;
    const bool word_after =
        end < upper.size() &&
        (absl::ascii_isalnum(upper[end]) || upper[end] == '_');
    if (!word_before && !word_after) ++checks;
  }
  return checks;
}

}  // namespace

const ColumnShape* TableShape::Find(absl::string_view column) const {
  for (const ColumnShape& c : columns) {
    if (absl::EqualsIgnoreCase(c.name, column)) return &c;
  }
  return nullptr;
}

bool IsDerivedData(absl::string_view table, absl::string_view column) {
  if (!column.empty()) return table == "employees" && column == "org_path";
  return table == "org_path_generation" || table == "change_log" ||
         table == "change_log_state" || table == "change_log_commit" ||
         table == "employee_search" ||
         absl::StartsWith(table, "employee_search_");
}

std::string QuoteIdentifier(absl::string_view name) {
  return absl::StrCat("\"", absl::StrReplaceAll(name, {{"\"", "\"\""}}), "\"");
}

std::string NormalizeSql(absl::string_view sql) {
  std::string out = absl::StrJoin(
      absl::StrSplit(sql, absl::ByAnyChar(" \t\r\n"), absl::SkipEmpty()), " ");
  // ALTER TABLE ... RENAME TO writes the new name quoted.
  constexpr absl::string_view kCreate = "CREATE TABLE \"";
  if (absl::StartsWith(out, kCreate)) {
    const size_t end = out.find('"', kCreate.size());
    if (end != std::string::npos) {
      const std::string name = out.substr(kCreate.size(), end - kCreate.size());
      const bool plain = !name.empty() && !absl::ascii_isdigit(name[0]) &&
                         std::all_of(name.begin(), name.end(), [](char c) {
                           return absl::ascii_isalnum(c) || c == '_';
                         });
      if (plain) {
        out = absl::StrCat("CREATE TABLE ", name, out.substr(end + 1));
      }
    }
  }
  return out;
}

absl::StatusOr<SchemaShape> ReadShape(store::Database& db) {
  SchemaShape shape;
  auto objects = db.Prepare(kSelectObjects);
  if (!objects.ok()) return objects.status();
  auto columns = db.Prepare(kSelectColumns);
  if (!columns.ok()) return columns.status();
  absl::Status s = objects->ForEachRow([&]() -> absl::Status {
    const std::string type = objects->Text(0);
    const std::string name = objects->Text(1);
    if (type != "table") {
      shape.objects[name] = {type, objects->Text(2),
                             NormalizeSql(objects->TextView(3))};
      return absl::OkStatus();
    }
    TableShape& table = shape.tables[name];
    table.sql = NormalizeSql(objects->TextView(3));
    table.checks = CountChecks(table.sql);
    columns->Bind(1, name);
    absl::Status each = columns->ForEachRow([&] {
      table.columns.push_back(
          {columns->Text(0), columns->Text(1), columns->Int64(2) != 0});
      return absl::OkStatus();
    });
    columns->Reset();
    return each;
  });
  if (!s.ok()) return store::WithContext(s, "reading the schema");
  return shape;
}

absl::StatusOr<std::unique_ptr<store::Database>> CopySchema(
    store::Database& db) {
  auto copy = store::OpenDatabase(
      ":memory:", SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, 0);
  if (!copy.ok()) return copy.status();
  // A virtual table makes its shadow tables itself (FTS5's
  // employee_search_data...).
  auto objects = db.Prepare(
      "SELECT sql FROM sqlite_schema WHERE sql IS NOT NULL AND name NOT "
      "LIKE 'sqlite\\_%' ESCAPE '\\' AND name NOT IN (SELECT name FROM "
      "pragma_table_list WHERE type = 'shadow') ORDER BY type <> 'table', "
      "rowid");
  if (!objects.ok()) return objects.status();
  absl::Status s =
      objects->ForEachRow([&] { return (*copy)->Exec(objects->TextView(0)); });
  if (!s.ok()) return store::WithContext(s, "copying the schema");
  return copy;
}

namespace {

bool SameColumns(const TableShape& a, const TableShape& b) {
  if (a.columns.size() != b.columns.size()) return false;
  for (size_t i = 0; i < a.columns.size(); ++i) {
    if (a.columns[i].name != b.columns[i].name) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<ScriptReplay> ReplayScript(store::Database& db,
                                          absl::string_view sql) {
  ScriptReplay replay;
  auto before = ReadShape(db);
  if (!before.ok()) return before.status();
  replay.before = *std::move(before);
  SchemaShape previous = replay.before;
  replay.status = db.Exec(sql, [&](absl::string_view statement) {
    replay.statements.emplace_back(statement);
    auto now = ReadShape(db);
    if (!now.ok()) return now.status();
    const size_t index = replay.statements.size() - 1;
    for (const auto& [name, table] : now->tables) {
      auto it = previous.tables.find(name);
      if (it == previous.tables.end() || it->second.sql != table.sql) {
        replay.last_change[name] = index;
      }
    }
    for (const auto& [name, table] : previous.tables) {
      auto kept = now->tables.find(name);
      if (kept == now->tables.end()) {
        replay.last_change[name] = index;
        bool renamed = false;
        for (const auto& [other, shape] : now->tables) {
          renamed |= !previous.tables.count(other) && SameColumns(shape, table);
        }
        (renamed ? replay.renamed_tables : replay.vanished).insert(name);
        continue;
      }
      const auto& was = table.columns;
      const auto& is = kept->second.columns;
      if (was.size() != is.size()) continue;
      for (size_t c = 0; c < was.size(); ++c) {
        if (was[c].name != is[c].name && table.Find(is[c].name) == nullptr) {
          replay.renamed_columns.emplace(name, was[c].name);
        }
      }
    }
    for (const auto& [name, object] : now->objects) {
      auto it = previous.objects.find(name);
      if (it == previous.objects.end() || it->second.sql != object.sql) {
        replay.last_change[name] = index;
      }
    }
    for (const auto& [name, object] : previous.objects) {
      if (!now->objects.count(name)) replay.last_change[name] = index;
    }
    previous = *std::move(now);
    return absl::OkStatus();
  });
  auto after = ReadShape(db);
  if (!after.ok()) return after.status();
  replay.after = *std::move(after);
  return replay;
}

Removal Removed(const SchemaShape& before, const SchemaShape& after) {
  Removal removal;
  for (const auto& [name, table] : before.tables) {
    auto it = after.tables.find(name);
    if (it == after.tables.end()) {
      removal.tables.push_back(name);
      continue;
    }
    for (const ColumnShape& column : table.columns) {
      if (it->second.Find(column.name) == nullptr) {
        removal.columns.emplace_back(name, column.name);
      }
    }
    if (it->second.sql != table.sql) removal.rebuilt.push_back(name);
  }
  return removal;
}

}  // namespace pulse::migrate
