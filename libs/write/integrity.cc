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

// Whether the employees table exists with its org_path column.
absl::StatusOr<bool> HasPathColumn(store::Database& db) {
  auto columns = db.SelectInt(
      "SELECT count(*) FROM pragma_table_info('employees') WHERE name = "
      "'org_path'");
  if (!columns.ok()) return columns.status();
  return *columns > 0;
}

absl::Status Check(store::Database& db, std::vector<std::string>* problems) {
  auto exists = store::TableExists(db, "employees");
  if (!exists.ok() || !*exists) return exists.status();
  auto snapshot = store::ReadTransaction::Begin(db);
  if (!snapshot.ok()) return snapshot.status();
  auto fk = db.Prepare("PRAGMA foreign_key_check");
  if (!fk.ok()) return fk.status();
  int broken = 0;
  absl::Status s = fk->ForEachRow([&] {
    if (++broken <= kShown) {
      problems->push_back(
          absl::StrCat("broken reference: ", fk->Text(0), " row ", fk->Int64(1),
                       " refers to a missing ", fk->Text(2), " row"));
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  if (broken > kShown) {
    problems->push_back(
        absl::StrCat("... and ", broken - kShown, " more broken references"));
  }
  auto has_path = HasPathColumn(db);
  if (!has_path.ok() || !*has_path) return has_path.status();
  auto paths = db.Prepare(kWrongPaths);
  if (!paths.ok()) return paths.status();
  int wrong = 0;
  s = paths->ForEachRow([&] {
    if (++wrong <= kShown) {
      const std::optional<int64_t> manager = paths->OptionalInt64(1);
      problems->push_back(absl::StrCat(
          "subtree index: employee ", paths->Int64(0), " (manager ",
          manager.has_value() ? absl::StrCat(*manager) : std::string("none"),
          ") has path '", paths->Text(2), "', not '", paths->Text(3), "'"));
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  if (wrong > kShown) {
    problems->push_back(absl::StrCat("... and ", wrong - kShown,
                                     " more employees with a wrong path"));
  }
  if (wrong > 0) {
    problems->push_back(
        "run 'pulse-schema repair-index' to rebuild the subtree index");
  }
  return absl::OkStatus();
}

// RepairIndex's work inside its transaction: how many paths changed.
absl::StatusOr<int64_t> Repair(store::Database& db) {
  auto exists = store::TableExists(db, "employees");
  if (!exists.ok()) return exists.status();
  auto has_path = *exists ? HasPathColumn(db) : false;
  if (!has_path.ok()) return has_path.status();
  if (!*has_path) {
    return absl::FailedPreconditionError(
        "the database has no subtree index: run 'pulse-schema upgrade head'");
  }
  if (absl::Status s = db.Exec(kRepair); !s.ok()) return s;
  const int64_t changed = db.Changes();
  // Whatever the walk from the roots cannot reach sits on a cycle.
  auto left = db.Prepare(kWrongPaths);
  if (!left.ok()) return left.status();
  std::vector<std::string> ids;
  while (ids.size() < 20) {
    auto row = left->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    ids.push_back(absl::StrCat(left->Int64(0)));
  }
  if (!ids.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "employees ", absl::StrJoin(ids, ", "),
        " are in or under a manager cycle, so they have no path; fix their "
        "manager_id, then run 'pulse-schema repair-index' again (nothing "
        "was changed)"));
  }
  return changed;
}

}  // namespace

absl::StatusOr<std::vector<std::string>> CheckData(store::Database& db) {
  std::vector<std::string> problems;
  if (absl::Status s = Check(db, &problems); !s.ok()) {
    return store::WithContext(s, "checking the data");
  }
  return problems;
}

absl::StatusOr<int64_t> RepairIndex(store::Database& db) {
  auto txn = store::WriteTransaction::Begin(db);
  if (!txn.ok()) return txn.status();
  auto changed = Repair(db);
  if (!changed.ok()) {
    if (absl::IsFailedPrecondition(changed.status())) return changed.status();
    return store::WithContext(changed.status(), "rebuilding the subtree index");
  }
  if (absl::Status s = (*txn)->Commit(); !s.ok()) return s;
  return changed;
}

}  // namespace pulse::write
