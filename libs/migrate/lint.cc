#include "libs/migrate/lint.h"

#include <algorithm>
#include <map>
#include <regex>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "libs/migrate/schema_shape.h"
#include "libs/store/store.h"

namespace pulse::migrate {
namespace {

using Severity = LintFinding::Severity;

// Indexes that reads name or need: the subtree stream reads
// employees_org_path (INDEXED BY, libs/hierarchy); the insert trigger and
// the chain of command find reports through employees_manager_id.
const std::set<std::string>& NeededIndexes() {
  static const auto* kNeeded =
      new std::set<std::string>{"employees_org_path", "employees_manager_id"};
  return *kNeeded;
}

const std::set<std::string>& DestructiveRules() {
  static const auto* kRules = new std::set<std::string>{
      "drop_table",     "drop_column", "rename",           "type_change",
      "not_null_added", "check_added", "drop_needed_index"};
  return *kRules;
}

const std::set<std::string>& AllRules() {
  static const auto* kRules = new std::set<std::string>{
      "drop_table",         "drop_column",        "rename",
      "type_change",        "not_null_added",     "check_added",
      "drop_needed_index",  "not_in_transaction", "replay_failed",
      "forgotten_object",   "missing_downgrade",  "downgrade_drops_data",
      "downgrade_mismatch", "unknown_nolint"};
  return *kRules;
}

std::string Abbreviate(absl::string_view statement) {
  std::string one_line = NormalizeSql(statement);
  if (one_line.size() > 100)
    one_line = absl::StrCat(one_line.substr(0, 97), "...");
  return one_line;
}

// A statement that the migrator's transaction makes fail or do nothing.
bool CannotRunInTransaction(absl::string_view statement) {
  static const std::regex kPattern(
      R"(^\s*(VACUUM|BEGIN|COMMIT|END|ROLLBACK|SAVEPOINT|RELEASE|ATTACH|DETACH)\b|^\s*PRAGMA\s+(\w+\.)?(journal_mode|foreign_keys|locking_mode|page_size|auto_vacuum)\b)",
      std::regex::icase);
  return std::regex_search(std::string(statement), kPattern);
}

// "ALTER TABLE t RENAME ..." of a table: its name, or "".
std::string RenamedTable(absl::string_view statement) {
  static const std::regex kPattern(
      R"(^\s*ALTER\s+TABLE\s+(?:\w+\.)?["`\[]?(\w+)["`\]]?\s+RENAME\b)",
      std::regex::icase);
  std::smatch match;
  const std::string text(statement);
  if (!std::regex_search(text, match, kPattern)) return "";
  return match[1].str();
}

// Replays `sql` on `db` inside a transaction, as the migrator runs it.
absl::StatusOr<ScriptReplay> RunScript(store::Database& db,
                                       const std::string& sql) {
  if (absl::Status s = db.Exec("BEGIN"); !s.ok()) return s;
  auto replay = ReplayScript(db, sql);
  if (!db.Exec("COMMIT").ok()) db.Exec("ROLLBACK").IgnoreError();
  return replay;
}

// The first statement that the migrator's transaction makes fail or do
// nothing, or "".
std::string NotInTransaction(const ScriptReplay& replay) {
  for (const std::string& statement : replay.statements) {
    if (CannotRunInTransaction(statement)) return statement;
  }
  return "";
}

class ScriptLinter {
 public:
  ScriptLinter(const Script& script, std::vector<LintFinding>* out)
      : script_(script), out_(out) {}

  void Add(const std::string& rule, Severity severity,
           const std::string& statement, const std::string& message) {
    LintFinding f{severity, rule, script_.file, Abbreviate(statement), message};
    const bool waived = std::find(script_.nolint.begin(), script_.nolint.end(),
                                  rule) != script_.nolint.end();
    if (waived) return;
    if (severity == Severity::kError && script_.breaking &&
        DestructiveRules().count(rule)) {
      f.severity = Severity::kWarning;
      absl::StrAppend(&f.message, " (allowed: the revision is breaking)");
    }
    out_->push_back(std::move(f));
  }

  absl::Status Run(store::Database& db) {
    for (const std::string& rule : script_.nolint) {
      if (!AllRules().count(rule)) {
        Add("unknown_nolint", Severity::kError, "",
            absl::StrCat("'-- nolint: ", rule, "' names no lint rule"));
      }
    }
    if (!script_.has_downgrade) {
      Add("missing_downgrade", Severity::kWarning, "",
          "no '-- +downgrade' section: the revision cannot be reverted");
    }
    auto up = RunScript(db, script_.upgrade_sql);
    if (!up.ok()) return up.status();
    if (!Replayed(*up, "the upgrade does not run on its parents' schema")) {
      return absl::OkStatus();
    }
    const SchemaShape* before = &up->before;
    const SchemaShape* after = &up->after;
    Compare(*before, *after, *up);
    if (!script_.has_downgrade) return absl::OkStatus();

    auto down = RunScript(db, script_.downgrade_sql);
    if (!down.ok()) return down.status();
    if (!Replayed(*down, "the downgrade does not run after the upgrade")) {
      return absl::OkStatus();
    }
    const SchemaShape* reverted = &down->after;
    const Removal removal = Removed(*after, *reverted);
    std::vector<std::string> dropped;
    for (const std::string& table : removal.tables) {
      if (!IsDerivedData(table)) dropped.push_back(table);
    }
    for (const auto& [table, column] : removal.columns) {
      if (!IsDerivedData(table, column)) {
        dropped.push_back(absl::StrCat(table, ".", column));
      }
    }
    if (!dropped.empty()) {
      Add("downgrade_drops_data", Severity::kWarning, "",
          absl::StrCat("the downgrade drops ", absl::StrJoin(dropped, ", "),
                       " and the data in it (the migrator's guard asks for "
                       "--allow_data_loss when there is any)"));
    }
    std::vector<std::string> differing;
    for (const auto& [name, table] : before->tables) {
      auto it = reverted->tables.find(name);
      if (it == reverted->tables.end() || it->second.sql != table.sql) {
        differing.push_back(name);
      }
    }
    for (const auto& [name, object] : before->objects) {
      auto it = reverted->objects.find(name);
      if (it == reverted->objects.end() || it->second.sql != object.sql) {
        differing.push_back(name);
      }
    }
    for (const auto& [name, table] : reverted->tables) {
      if (!before->tables.count(name)) differing.push_back(name);
    }
    for (const auto& [name, object] : reverted->objects) {
      if (!before->objects.count(name)) differing.push_back(name);
    }
    if (!differing.empty()) {
      Add("downgrade_mismatch", Severity::kWarning, "",
          absl::StrCat("the downgrade does not restore the parent's schema: ",
                       absl::StrJoin(differing, ", "), " differ"));
    }
    return absl::OkStatus();
  }

 private:
  // Reports what kept `replay` from running in a transaction, or its
  // failure (`failed` says which); true when it ran.
  bool Replayed(const ScriptReplay& replay, absl::string_view failed) {
    const char* kInTransaction =
        "cannot run inside the migrator's transaction (it fails or does "
        "nothing there); for foreign keys use '-- foreign_keys: off'";
    if (const std::string statement = NotInTransaction(replay);
        !statement.empty()) {
      Add("not_in_transaction", Severity::kError, statement, kInTransaction);
    }
    if (replay.status.ok()) return true;
    if (absl::StrContains(replay.status.message(), "within a transaction")) {
      Add("not_in_transaction", Severity::kError, "",
          absl::StrCat(kInTransaction, ": ", replay.status.message()));
    } else {
      Add("replay_failed", Severity::kError, "",
          absl::StrCat(failed, ": ", replay.status.message()));
    }
    return false;
  }

  std::string StatementFor(const ScriptReplay& replay,
                           const std::string& name) {
    auto it = replay.last_change.find(name);
    return it == replay.last_change.end() ? std::string()
                                          : replay.statements[it->second];
  }

  void Compare(const SchemaShape& before, const SchemaShape& after,
               const ScriptReplay& up) {
    for (const std::string& statement : up.statements) {
      const std::string renamed = RenamedTable(statement);
      if (!renamed.empty() && before.tables.count(renamed)) {
        Add("rename", Severity::kError, statement,
            absl::StrCat("renames table ", renamed,
                         " or one of its columns, "
                         "which readers built for the parent still name"));
      }
    }
    for (const auto& [name, table] : before.tables) {
      auto it = after.tables.find(name);
      const std::string statement = StatementFor(up, name);
      if (it == after.tables.end()) {
        Add("drop_table", Severity::kError, statement,
            absl::StrCat("drops table ", name));
        continue;
      }
      const TableShape& now = it->second;
      for (const ColumnShape& column : table.columns) {
        const ColumnShape* kept = now.Find(column.name);
        if (kept == nullptr) {
          Add("drop_column", Severity::kError, statement,
              absl::StrCat("drops column ", name, ".", column.name));
          continue;
        }
        if (kept->type != column.type) {
          Add("type_change", Severity::kError, statement,
              absl::StrCat("changes the type of ", name, ".", column.name,
                           " from '", column.type, "' to '", kept->type, "'"));
        }
        if (kept->not_null && !column.not_null) {
          Add("not_null_added", Severity::kError, statement,
              absl::StrCat("adds NOT NULL to ", name, ".", column.name,
                           ", which existing rows may fail"));
        }
      }
      if (now.checks > table.checks) {
        Add("check_added", Severity::kError, statement,
            absl::StrCat("adds a CHECK to ", name,
                         ", which existing rows may fail"));
      }
    }
    for (const auto& [name, object] : before.objects) {
      if (after.objects.count(name)) continue;
      const std::string statement = StatementFor(up, name);
      if (object.type == "index" && NeededIndexes().count(name)) {
        Add("drop_needed_index", Severity::kError, statement,
            absl::StrCat("drops index ", name, ", which reads need"));
      } else if (after.tables.count(object.table) &&
                 up.vanished.count(object.table)) {
        Add("forgotten_object", Severity::kWarning, statement,
            absl::StrCat("table ", object.table, " was rebuilt without its ",
                         object.type, " ", name));
      }
    }
  }

  const Script& script_;
  std::vector<LintFinding>* out_;
};

}  // namespace

std::string FormatFinding(const LintFinding& f) {
  std::string line = absl::StrCat(
      f.file, ": ", f.severity == Severity::kError ? "error" : "warning", ": [",
      f.rule, "] ", f.message);
  if (!f.statement.empty()) absl::StrAppend(&line, " (`", f.statement, "`)");
  return line;
}

bool HasErrors(const std::vector<LintFinding>& findings) {
  return std::any_of(findings.begin(), findings.end(), [](const auto& f) {
    return f.severity == Severity::kError;
  });
}

absl::StatusOr<std::vector<LintFinding>> Lint(const RevisionGraph& graph) {
  std::vector<LintFinding> findings;
  for (const std::string& id : graph.topological_order()) {
    const Script* script = graph.Find(id);
    auto db = store::OpenDatabase(
        ":memory:", SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, 0);
    if (!db.ok()) return db.status();
    // The parents' schema: every ancestor's upgrade, in order.
    const RevisionSet ancestors = graph.Closure(script->down_revisions);
    bool replayed = true;
    for (const std::string& parent : graph.topological_order()) {
      if (!ancestors.count(parent)) continue;
      if (!(*db)->Exec(graph.Find(parent)->upgrade_sql).ok()) {
        replayed = false;  // Reported when that revision is linted.
        break;
      }
    }
    if (!replayed) continue;
    ScriptLinter linter(*script, &findings);
    if (absl::Status s = linter.Run(**db); !s.ok()) {
      return store::WithContext(s, absl::StrCat("linting ", script->file));
    }
  }
  return findings;
}

}  // namespace pulse::migrate
