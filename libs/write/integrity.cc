#include "libs/write/integrity.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "libs/store/store.h"

namespace pulse::write {
namespace {

// How many problems of one kind are named before the rest are counted.
constexpr int kShown = 5;

// Rows whose path is not their manager's path plus their own id, found
// through the primary key for each manager.
constexpr char kWrongPaths[] =
    "SELECT e.id, e.manager_id, e.org_path, coalesce(m.org_path, '') || "
    "printf('%08x', e.id) FROM employees e LEFT JOIN employees m ON m.id = "
    "e.manager_id WHERE e.org_path IS NOT coalesce(m.org_path, '') || "
    "printf('%08x', e.id)";

// Every path, walked down from the roots (no manager, or a missing one).
constexpr char kRepair[] = R"sql(
WITH RECURSIVE walk(id, org_path) AS (
  SELECT id, printf('%08x', id) FROM employees
  WHERE manager_id IS NULL
     OR manager_id NOT IN (SELECT id FROM employees)
  UNION ALL
  SELECT e.id, walk.org_path || printf('%08x', e.id)
  FROM employees e JOIN walk ON e.manager_id = walk.id
)
UPDATE employees SET org_path = walk.org_path FROM walk
WHERE walk.id = employees.id AND employees.org_path IS NOT walk.org_path
)sql";

bool HasPathColumn(SQLite::Database& db) {
  return db.execAndGet(
               "SELECT count(*) FROM pragma_table_info('employees') WHERE "
               "name = 'org_path'")
             .getInt() > 0;
}

}  // namespace

absl::StatusOr<std::vector<std::string>> CheckData(SQLite::Database& db) {
  std::vector<std::string> problems;
  try {
    if (!db.tableExists("employees")) return problems;
    store::ReadTransaction snapshot(db);
    SQLite::Statement fk(db, "PRAGMA foreign_key_check");
    int broken = 0;
    while (fk.executeStep()) {
      if (++broken <= kShown) {
        problems.push_back(absl::StrCat(
            "broken reference: ", fk.getColumn(0).getString(), " row ",
            fk.getColumn(1).getInt64(), " refers to a missing ",
            fk.getColumn(2).getString(), " row"));
      }
    }
    if (broken > kShown) {
      problems.push_back(
          absl::StrCat("... and ", broken - kShown, " more broken references"));
    }
    if (!HasPathColumn(db)) return problems;
    SQLite::Statement paths(db, kWrongPaths);
    int wrong = 0;
    while (paths.executeStep()) {
      if (++wrong <= kShown) {
        problems.push_back(
            absl::StrCat("subtree index: employee ",
                         paths.getColumn(0).getInt64(), " (manager ",
                         paths.getColumn(1).isNull()
                             ? std::string("none")
                             : absl::StrCat(paths.getColumn(1).getInt64()),
                         ") has path '", paths.getColumn(2).getString(),
                         "', not '", paths.getColumn(3).getString(), "'"));
      }
    }
    if (wrong > kShown) {
      problems.push_back(absl::StrCat("... and ", wrong - kShown,
                                      " more employees with a wrong path"));
    }
    if (wrong > 0) {
      problems.push_back(
          "run 'pulse-schema repair-index' to rebuild the subtree index");
    }
  } catch (const SQLite::Exception& e) {
    return store::FromException(e, "checking the data");
  }
  return problems;
}

absl::StatusOr<int64_t> RepairIndex(SQLite::Database& db) {
  auto txn = store::WriteTransaction::Begin(db);
  if (!txn.ok()) return txn.status();
  int64_t changed = 0;
  try {
    if (!db.tableExists("employees") || !HasPathColumn(db)) {
      return absl::FailedPreconditionError(
          "the database has no subtree index: run 'pulse-schema upgrade "
          "head'");
    }
    db.exec(kRepair);
    changed = db.getChanges();
    // Whatever the walk from the roots cannot reach sits on a cycle.
    SQLite::Statement left(db, kWrongPaths);
    std::vector<std::string> ids;
    while (left.executeStep() && ids.size() < 20) {
      ids.push_back(absl::StrCat(left.getColumn(0).getInt64()));
    }
    if (!ids.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "employees ", absl::StrJoin(ids, ", "),
          " are in or under a manager cycle, so they have no path; fix their "
          "manager_id, then run 'pulse-schema repair-index' again (nothing "
          "was changed)"));
    }
  } catch (const SQLite::Exception& e) {
    return store::FromException(e, "rebuilding the subtree index");
  }
  if (absl::Status s = (*txn)->Commit(); !s.ok()) return s;
  return changed;
}

}  // namespace pulse::write
