#include "libs/write/import.h"

#include <algorithm>
#include <optional>
#include <tuple>

#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "libs/store/change_log.h"
#include "libs/store/path.h"
#include "libs/store/store.h"

namespace pulse::write {
namespace {

// Staged rows live in the connection's temporary database: writing them
// takes no lock on the main database file.
constexpr char kCreateStaging[] = R"sql(
CREATE TEMP TABLE IF NOT EXISTS import_employees (
  id INTEGER PRIMARY KEY, line INTEGER NOT NULL, manager_id INTEGER,
  department TEXT NOT NULL, full_name TEXT NOT NULL, title TEXT NOT NULL,
  email TEXT NOT NULL, hire_date TEXT NOT NULL, notes TEXT);
CREATE TEMP TABLE IF NOT EXISTS import_departments (
  name TEXT PRIMARY KEY, line INTEGER NOT NULL, parent TEXT NOT NULL,
  head_employee_id INTEGER);
DELETE FROM temp.import_employees;
DELETE FROM temp.import_departments;
)sql";
constexpr char kStageEmployee[] =
    "INSERT INTO temp.import_employees (id, line, manager_id, department, "
    "full_name, title, email, hire_date, notes) VALUES (?, ?, ?, ?, ?, ?, ?, "
    "?, ?)";
constexpr char kStageDepartment[] =
    "INSERT OR REPLACE INTO temp.import_departments (name, line, parent, "
    "head_employee_id) VALUES (?, ?, ?, ?)";
// Staged rows against the database's, in id order (the staged table's
// rowid; each employee found through the primary key).
constexpr char kCompare[] =
    "SELECT s.id, s.manager_id, s.department, s.full_name, s.title, s.email, "
    "s.hire_date, s.notes, e.id, e.manager_id, e.department_id, e.full_name, "
    "e.title, e.email, e.hire_date, e.notes "
    "FROM temp.import_employees s LEFT JOIN main.employees e ON e.id = s.id "
    "ORDER BY s.id";
constexpr char kInsert[] =
    "INSERT INTO employees (id, manager_id, department_id, full_name, title, "
    "email, hire_date, notes, org_path) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)";
constexpr char kInsertNoPath[] =
    "INSERT INTO employees (id, manager_id, department_id, full_name, title, "
    "email, hire_date, notes) VALUES (?, ?, ?, ?, ?, ?, ?, ?)";
constexpr char kUpdate[] =
    "UPDATE employees SET manager_id = ?2, department_id = ?3, full_name = ?4, "
    "title = ?5, email = ?6, hire_date = ?7, notes = ?8 WHERE id = ?1";
constexpr size_t kComponent = store::kPathComponentChars;
using store::PathComponent;

// The department id a staged department name stands for (none when empty).
std::optional<int64_t> DepartmentId(
    const absl::flat_hash_map<std::string, int64_t>& departments,
    const std::string& name) {
  if (name.empty()) return std::nullopt;
  return departments.at(name);
}

// Whether the row of kCompare on `compare` lists a stored employee with
// every field as it is stored, `department_id` standing for the staged
// department's name (the manager is compared by the caller).
bool SameFields(const store::Statement& compare,
                const std::optional<int64_t>& department_id) {
  if (department_id != compare.OptionalInt64(10)) return false;
  for (int c = 3; c <= 6; ++c) {
    if (compare.TextView(c) != compare.TextView(c + 8)) return false;
  }
  return compare.OptionalText(7) == compare.OptionalText(15);
}

// Whether the row of kCompare on `compare` gives a stored employee another
// manager.
bool Moves(const store::Statement& compare) {
  return compare.OptionalInt64(1) != compare.OptionalInt64(9);
}

}  // namespace

std::string FormatErrors(const std::vector<RowError>& errors,
                         const std::string& source, int max, size_t max_bytes) {
  std::string out;
  int shown = 0;
  for (const RowError& e : errors) {
    std::string line =
        absl::StrCat(e.source.empty() ? source : e.source, ":", e.line, ": ",
                     e.column, ": ", e.problem, "\n");
    if (shown >= max || out.size() + line.size() > max_bytes) break;
    out += line;
    ++shown;
  }
  if (static_cast<size_t>(shown) < errors.size()) {
    absl::StrAppend(&out, "... and ", errors.size() - shown, " more error",
                    errors.size() - shown == 1 ? "" : "s", "\n");
  }
  if (!out.empty()) out.pop_back();
  return out;
}

absl::StatusOr<std::unique_ptr<Importer>> Importer::Begin(
    store::Database& db, ImportOptions options) {
  std::unique_ptr<Importer> importer(new Importer(db, std::move(options)));
  auto columns = db.SelectInt(
      "SELECT count(*) FROM pragma_table_info('employees') WHERE name IN "
      "('notes', 'org_path')");
  if (!columns.ok()) {
    return store::WithContext(columns.status(), "preparing the import");
  }
  if (*columns < 2) {
    return absl::FailedPreconditionError(
        "the database's schema is too old for writes (no employees "
        "table, or no subtree index): run 'pulse-schema upgrade head'");
  }
  absl::Status s = db.Exec("PRAGMA temp.cache_size = -32768");
  if (s.ok()) s = db.Exec(kCreateStaging);
  if (s.ok()) s = db.Exec("BEGIN");
  if (!s.ok()) return store::WithContext(s, "preparing the import");
  importer->staging_ = true;
  for (auto [sql, statement] :
       {std::pair(kStageEmployee, &importer->stage_employee_),
        std::pair(kStageDepartment, &importer->stage_department_)}) {
    auto prepared = db.Prepare(sql);
    if (!prepared.ok()) {
      return store::WithContext(prepared.status(), "preparing the import");
    }
    *statement = std::make_unique<store::Statement>(*std::move(prepared));
  }
  return importer;
}

Importer::~Importer() {
  stage_employee_.reset();
  stage_department_.reset();
  // Errors are ignored: the connection is closing or the tables were never
  // made.
  if (staging_) db_.Exec("ROLLBACK").IgnoreError();
  // Dropping is faster than deleting a large import's rows.
  db_.Exec(
         "DROP TABLE IF EXISTS temp.import_employees; "
         "DROP TABLE IF EXISTS temp.import_departments; "
         "DROP TABLE IF EXISTS temp.import_heads")
      .IgnoreError();
}

void Importer::AddError(RowError error) { errors_.push_back(std::move(error)); }

void Importer::AddRejected(int64_t id, int64_t line) {
  // Known, so its reports are not also reported for an unknown manager;
  // never staged, so nothing is written.
  nodes_.try_emplace(id, Node{0, line});
}

absl::Status Importer::AddEmployee(const EmployeeRow& row) {
  auto [it, added] = nodes_.try_emplace(row.id);
  if (!added) {
    errors_.push_back({row.line, "id",
                       absl::StrCat("duplicate id ", row.id, " (also on line ",
                                    it->second.line, ")"),
                       absl::StatusCode::kAlreadyExists});
    return absl::OkStatus();
  }
  it->second.manager = row.manager_id.value_or(0);
  it->second.line = row.line;
  if (!email_hashes_.insert(absl::HashOf(row.email)).second) {
    emails_may_repeat_ = true;
  }
  store::Statement& q = *stage_employee_;
  q.Bind(1, row.id);
  q.Bind(2, row.line);
  q.Bind(3, row.manager_id);
  q.Bind(4, row.department);
  q.Bind(5, row.full_name);
  q.Bind(6, row.title);
  q.Bind(7, row.email);
  q.Bind(8, row.hire_date);
  q.Bind(9, row.notes);
  absl::Status s = q.Run();
  if (!s.ok()) return store::WithContext(s, "staging the import");
  ++staged_;
  return absl::OkStatus();
}

absl::Status Importer::AddDepartment(const DepartmentRow& row) {
  auto check =
      db_.Prepare("SELECT line FROM temp.import_departments WHERE name = ?");
  if (!check.ok()) return check.status();
  check->Bind(1, row.name);
  auto found = check->Step();
  if (!found.ok()) {
    return store::WithContext(found.status(), "staging the import");
  }
  if (*found) {
    errors_.push_back({row.line, "name",
                       absl::StrCat("duplicate department '", row.name,
                                    "' (also on line ", check->Int64(0), ")"),
                       absl::StatusCode::kAlreadyExists});
    return absl::OkStatus();
  }
  store::Statement& q = *stage_department_;
  q.Bind(1, row.name);
  q.Bind(2, row.line);
  q.Bind(3, row.parent);
  q.Bind(4, row.head_employee_id);
  absl::Status s = q.Run();
  if (!s.ok()) return store::WithContext(s, "staging the import");
  ++departments_;
  return absl::OkStatus();
}

absl::Status Importer::ErrorStatus() const {
  absl::StatusCode code = errors_.front().code;
  for (const RowError& e : errors_) {
    if (e.code != code) code = absl::StatusCode::kInvalidArgument;
  }
  return absl::Status(
      code,
      absl::StrCat(errors_.size(), " invalid row",
                   errors_.size() == 1 ? "" : "s", ", nothing was changed:\n",
                   FormatErrors(errors_, options_.source, options_.max_errors,
                                1 << 20)));
}

absl::StatusOr<WriteSummary> Importer::Finish() {
  stage_employee_.reset();
  stage_department_.reset();
  if (absl::Status s = db_.Exec("COMMIT"); !s.ok()) {
    return store::WithContext(s, "staging the import");
  }
  staging_ = false;
  // A whole organisation (into an empty table, or replacing one) is loaded
  // with foreign keys off: with them on, every row inserted would look up
  // its manager and, while reports inserted before their managers wait,
  // its own reports (about 10 s of a million-row load). The import checks
  // every reference itself, and CheckReferences confirms it before commit. The
  // pragma cannot change inside a transaction, so this is decided before it
  // begins; Apply checks again inside.
  auto any = db_.SelectInt("SELECT EXISTS (SELECT 1 FROM employees)");
  if (!any.ok()) {
    return store::WithContext(any.status(), "preparing the import");
  }
  const bool foreign_keys_off =
      options_.mode == ImportMode::kReplace || *any == 0;
  if (foreign_keys_off) {
    if (absl::Status s = db_.Exec("PRAGMA foreign_keys = OFF"); !s.ok()) {
      return store::WithContext(s, "preparing the import");
    }
  }
  struct RestoreForeignKeys {
    store::Database& db;
    bool off;
    ~RestoreForeignKeys() {
      // It fails only inside a transaction, which the one below has ended
      // by now.
      if (off) db.Exec("PRAGMA foreign_keys = ON").IgnoreError();
    }
  } restore{db_, foreign_keys_off};
  auto txn = store::WriteTransaction::Begin(db_);
  if (!txn.ok()) return txn.status();
  if (options_.precondition) {
    if (absl::Status s = options_.precondition(db_); !s.ok()) return s;
  }
  if (absl::Status s = Validate(); !s.ok()) return s;
  if (!errors_.empty()) {
    std::stable_sort(
        errors_.begin(), errors_.end(),
        [](const RowError& a, const RowError& b) { return a.line < b.line; });
    return ErrorStatus();
  }
  auto summary = Apply();
  if (!summary.ok()) return summary.status();
  if (foreign_keys_off && !options_.dry_run) {
    if (absl::Status s = CheckReferences(); !s.ok()) return s;
  }
  if (!options_.dry_run) {
    if (absl::Status s = (*txn)->Commit(); !s.ok()) return s;
  }
  return summary;
}

absl::Status Importer::CheckReferences() {
  // Every reference the import can write, as foreign_key_check would see
  // it, by the indexes (about 0.3 s for a million employees, against 2 s
  // for PRAGMA foreign_key_check).
  static constexpr const char* kBroken[] = {
      "SELECT 'employee ' || e.id || ' has manager ' || e.manager_id FROM "
      "employees e WHERE e.manager_id IS NOT NULL AND NOT EXISTS (SELECT 1 "
      "FROM employees m WHERE m.id = e.manager_id) LIMIT 1",
      "SELECT 'employee ' || id || ' has department ' || department_id FROM "
      "employees WHERE department_id IS NOT NULL AND department_id NOT IN "
      "(SELECT id FROM departments) LIMIT 1",
      "SELECT 'department ' || d.id || ' has head ' || d.head_employee_id "
      "FROM departments d WHERE d.head_employee_id IS NOT NULL AND NOT "
      "EXISTS (SELECT 1 FROM employees e WHERE e.id = d.head_employee_id) "
      "LIMIT 1",
      "SELECT 'department ' || d.id || ' has parent ' || d.parent_id FROM "
      "departments d WHERE d.parent_id IS NOT NULL AND NOT EXISTS (SELECT 1 "
      "FROM departments p WHERE p.id = d.parent_id) LIMIT 1"};
  for (const char* sql : kBroken) {
    auto q = db_.Prepare(sql);
    auto row = q.ok() ? q->Step() : q.status();
    if (!row.ok()) {
      return store::WithContext(row.status(),
                                "checking the import's references");
    }
    if (*row) {
      return absl::InternalError(absl::StrCat(
          "the import would leave a broken reference (", q->Text(0),
          ", who does not exist) that its checks missed; nothing was "
          "changed"));
    }
  }
  return absl::OkStatus();
}

absl::Status Importer::Validate() {
  absl::Status s = ValidateRows();
  return store::WithContext(s, "validating the import");
}

absl::Status Importer::ValidateRows() {
  const bool merge = options_.mode == ImportMode::kMerge;
  auto prepared = db_.Prepare("SELECT org_path FROM employees WHERE id = ?");
  if (!prepared.ok()) return prepared.status();
  store::Statement& exists = *prepared;
  // The first error of a look-up below (whose callers go on as if the
  // employee did not exist); returned as soon as it is seen.
  absl::Status lookup;
  // The path of `id` in the database, if it is there.
  auto stored_path = [&](int64_t id) -> std::optional<std::string> {
    exists.Bind(1, id);
    auto found = exists.Step();
    std::optional<std::string> path;
    if (!found.ok()) {
      lookup.Update(found.status());
    } else if (*found) {
      path = exists.Text(0);
    }
    exists.Reset();
    return path;
  };
  // Whether `id` will exist once the import is applied.
  auto will_exist = [&](int64_t id) {
    if (nodes_.contains(id)) return true;
    return merge && stored_path(id).has_value();
  };
  absl::flat_hash_set<int64_t> known_managers;
  for (const auto& [id, node] : nodes_) {
    if (node.manager == 0 || nodes_.contains(node.manager) ||
        known_managers.contains(node.manager)) {
      continue;
    }
    if (will_exist(node.manager)) {
      known_managers.insert(node.manager);
      continue;
    }
    if (!lookup.ok()) return lookup;
    errors_.push_back(
        {node.line, "manager_id",
         absl::StrCat("no employee ", node.manager,
                      merge ? " in the file or the database"
                            : " in the file (--mode=replace keeps only the "
                              "file's employees)")});
  }

  if (emails_may_repeat_) {
    auto dup_emails = db_.Prepare(
        "SELECT email, group_concat(line, ', ') FROM (SELECT email, line FROM "
        "temp.import_employees ORDER BY line) GROUP BY email HAVING count(*) > "
        "1");
    if (!dup_emails.ok()) return dup_emails.status();
    absl::Status s = dup_emails->ForEachRow([&] {
      const std::string lines = dup_emails->Text(1);
      const int64_t first = std::stoll(lines);
      errors_.push_back({first, "email",
                         absl::StrCat("duplicate email '", dup_emails->Text(0),
                                      "' (lines ", lines, ")"),
                         absl::StatusCode::kAlreadyExists});
      return absl::OkStatus();
    });
    if (!s.ok()) return s;
  }
  if (merge) {
    // An email kept by an employee the file does not list.
    auto taken = db_.Prepare(
        "SELECT s.line, s.email, e.id FROM temp.import_employees s JOIN "
        "main.employees e ON e.email = s.email WHERE e.id <> s.id AND NOT "
        "EXISTS (SELECT 1 FROM temp.import_employees t WHERE t.id = e.id)");
    if (!taken.ok()) return taken.status();
    absl::Status s = taken->ForEachRow([&] {
      errors_.push_back(
          {taken->Int64(0), "email",
           absl::StrCat("'", taken->Text(1), "' already belongs to employee ",
                        taken->Int64(2)),
           absl::StatusCode::kAlreadyExists});
      return absl::OkStatus();
    });
    if (!s.ok()) return s;
  }

  // Departments: parents known, heads will exist.
  auto departments = db_.Prepare(
      "SELECT line, name, parent, head_employee_id FROM "
      "temp.import_departments ORDER BY line");
  if (!departments.ok()) return departments.status();
  auto known_department = db_.Prepare(
      "SELECT 1 FROM temp.import_departments WHERE name = ?1 UNION ALL "
      "SELECT 1 FROM main.departments WHERE name = ?1");
  if (!known_department.ok()) return known_department.status();
  absl::flat_hash_map<std::string, std::string> parents;
  std::vector<std::pair<int64_t, std::string>> order;
  absl::Status listed = departments->ForEachRow([&]() -> absl::Status {
    const int64_t line = departments->Int64(0);
    const std::string name = departments->Text(1);
    const std::string parent = departments->Text(2);
    parents[name] = parent;
    order.emplace_back(line, name);
    if (!parent.empty()) {
      known_department->Bind(1, parent);
      auto known = known_department->Step();
      if (!known.ok()) return known.status();
      if (!*known) {
        errors_.push_back(
            {line, "parent", absl::StrCat("no department '", parent, "'")});
      }
      known_department->Reset();
    }
    if (std::optional<int64_t> head = departments->OptionalInt64(3)) {
      if (!will_exist(*head)) {
        if (!lookup.ok()) return lookup;
        errors_.push_back(
            {line, "head_employee_id", absl::StrCat("no employee ", *head)});
      }
    }
    return absl::OkStatus();
  });
  if (!listed.ok()) return listed;
  for (const auto& [line, name] : order) {
    std::string at = name;
    for (size_t steps = 0; steps <= parents.size(); ++steps) {
      auto it = parents.find(at);
      if (it == parents.end() || it->second.empty()) break;
      at = it->second;
      if (at == name) {
        errors_.push_back(
            {line, "parent",
             absl::StrCat("a department cycle through '", name, "'"),
             absl::StatusCode::kFailedPrecondition});
        break;
      }
    }
  }

  // The nearest employee above `id` (not listed) whom the file lists:
  // where a chain leaving the file's rows comes back into them.
  auto nearest_listed = [&](int64_t id) -> std::optional<int64_t> {
    if (!merge) return std::nullopt;
    const std::optional<std::string> path = stored_path(id);
    if (!path.has_value()) return std::nullopt;
    const size_t levels = path->size() / kComponent;
    for (size_t k = 2; k <= levels; ++k) {
      const int64_t above = store::ComponentId(*path, k);
      if (nodes_.contains(above)) return above;
    }
    return std::nullopt;
  };
  CheckCycles(nearest_listed);
  return lookup;
}

void Importer::CheckCycles(
    const std::function<std::optional<int64_t>(int64_t)>& nearest_listed) {
  // Colours: absent = not seen, 1 = on the chain being walked, 2 = leads to
  // the top.
  absl::flat_hash_map<int64_t, uint8_t> colour;
  colour.reserve(nodes_.size());
  std::vector<int64_t> chain;
  for (const auto& [start, unused] : nodes_) {
    if (colour.contains(start)) continue;
    chain.clear();
    int64_t at = start;
    while (true) {
      auto c = colour.find(at);
      if (c != colour.end() && c->second == 2) break;
      if (c != colour.end() && c->second == 1) {
        auto from = std::find(chain.begin(), chain.end(), at);
        std::vector<int64_t> cycle(from, chain.end());
        std::string ids = absl::StrJoin(
            cycle.begin(), cycle.begin() + std::min<size_t>(cycle.size(), 12),
            " -> ");
        if (cycle.size() > 12) absl::StrAppend(&ids, " -> ...");
        errors_.push_back({nodes_.at(at).line, "manager_id",
                           absl::StrCat("a manager cycle: ", ids, " -> ", at),
                           absl::StatusCode::kFailedPrecondition});
        break;
      }
      colour[at] = 1;
      chain.push_back(at);
      const int64_t manager = nodes_.at(at).manager;
      if (manager == 0) break;
      if (nodes_.contains(manager)) {
        at = manager;
        continue;
      }
      std::optional<int64_t> next = nearest_listed(manager);
      if (!next.has_value()) break;
      at = *next;
    }
    for (int64_t id : chain) colour[id] = 2;
  }
}

absl::Status Importer::ApplyDepartments(
    WriteSummary* summary, absl::flat_hash_map<std::string, int64_t>* ids) {
  auto all = db_.Prepare("SELECT name, id FROM departments ORDER BY id DESC");
  if (!all.ok()) return all.status();
  absl::Status s = all->ForEachRow([&] {
    (*ids)[all->Text(0)] = all->Int64(1);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  auto insert = db_.Prepare("INSERT INTO departments (name) VALUES (?)");
  if (!insert.ok()) return insert.status();
  auto ensure = [&](const std::string& name) {
    if (name.empty() || ids->contains(name)) return absl::OkStatus();
    insert->Bind(1, name);
    absl::Status added = insert->Run();
    if (!added.ok()) return added;
    (*ids)[name] = db_.LastInsertRowId();
    ++summary->departments_added;
    return absl::OkStatus();
  };
  auto staged = db_.Prepare(
      "SELECT name, parent FROM temp.import_departments ORDER BY line");
  if (!staged.ok()) return staged.status();
  s = staged->ForEachRow([&] {
    absl::Status added = ensure(staged->Text(0));
    if (added.ok()) added = ensure(staged->Text(1));
    return added;
  });
  if (!s.ok()) return s;
  auto named =
      db_.Prepare("SELECT DISTINCT department FROM temp.import_employees");
  if (!named.ok()) return named.status();
  return named->ForEachRow([&] { return ensure(named->Text(0)); });
}

absl::Status Importer::BulkInsert(
    const absl::flat_hash_map<std::string, int64_t>& departments) {
  // The paths of managers, from the listed managers alone (the table is
  // emptied first), shortest first by memoised walks up.
  absl::flat_hash_map<int64_t, std::string> paths;
  for (const auto& [id, node] : nodes_) {
    if (node.manager != 0) paths.try_emplace(node.manager);
  }
  std::vector<int64_t> chain;
  for (auto& [id, path] : paths) {
    if (!path.empty()) continue;
    chain.clear();
    int64_t at = id;
    std::string prefix;
    while (true) {
      chain.push_back(at);
      const int64_t up = nodes_.at(at).manager;
      if (up == 0) break;
      const std::string& known = paths.at(up);
      if (!known.empty()) {
        prefix = known;
        break;
      }
      at = up;
    }
    for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
      prefix += PathComponent(*it);
      paths[*it] = prefix;
    }
  }
  // Heads survive the reload when their employee is still listed.
  absl::Status s = db_.Exec(
      "CREATE TEMP TABLE IF NOT EXISTS import_heads (department_id INTEGER "
      "PRIMARY KEY, head_employee_id INTEGER);"
      "DELETE FROM temp.import_heads;"
      "INSERT INTO temp.import_heads SELECT id, head_employee_id FROM "
      "departments WHERE head_employee_id IN (SELECT id FROM "
      "temp.import_employees);"
      "UPDATE departments SET head_employee_id = NULL");
  if (!s.ok()) return s;
  // With foreign keys on (a table that filled up since Finish looked), each
  // row inserted looks for its reports to settle the deferred references
  // of reports inserted before it: a full scan without employees_manager_id.
  auto foreign_keys = db_.SelectInt("PRAGMA foreign_keys");
  if (!foreign_keys.ok()) return foreign_keys.status();
  auto suspended = store::SuspendIndexesAndTriggers(
      db_, "employees",
      *foreign_keys != 0 ? std::vector<std::string>{"employees_manager_id"}
                         : std::vector<std::string>{});
  if (!suspended.ok()) return suspended.status();
  if (s = db_.Exec("DELETE FROM employees"); !s.ok()) return s;
  auto rows = db_.Prepare(
      "SELECT id, manager_id, department, full_name, title, email, hire_date, "
      "notes FROM temp.import_employees ORDER BY id");
  if (!rows.ok()) return rows.status();
  auto insert = db_.Prepare(kInsert);
  if (!insert.ok()) return insert.status();
  std::string path;
  s = rows->ForEachRow([&] {
    const int64_t id = rows->Int64(0);
    insert->Bind(1, id);
    const std::optional<int64_t> manager = rows->OptionalInt64(1);
    insert->Bind(2, manager);
    const absl::string_view department = rows->TextView(2);
    if (department.empty()) {
      insert->BindNull(3);
    } else {
      insert->Bind(3, departments.at(department));
    }
    // The staged row's text, not copied: the row stays until the next step.
    for (int c = 3; c <= 6; ++c) insert->BindView(c + 1, rows->TextView(c));
    if (rows->IsNull(7)) {
      insert->BindNull(8);
    } else {
      insert->BindView(8, rows->TextView(7));
    }
    path = manager.has_value() ? paths.at(*manager) : std::string();
    path += PathComponent(id);
    insert->BindView(9, path);
    absl::Status inserted = insert->Run();
    return inserted;
  });
  if (!s.ok()) return s;
  if (s = store::RestoreSchema(db_, *suspended); !s.ok()) return s;
  if (s = store::RefreshAfterBulkLoad(db_); !s.ok()) return s;
  return db_.Exec(
      "UPDATE departments SET head_employee_id = (SELECT h.head_employee_id "
      "FROM temp.import_heads h WHERE h.department_id = departments.id) WHERE "
      "id IN (SELECT department_id FROM temp.import_heads)");
}

absl::Status Importer::Merge(
    const absl::flat_hash_map<std::string, int64_t>& departments,
    WriteSummary* summary) {
  auto detach =
      db_.Prepare("UPDATE employees SET manager_id = NULL WHERE id = ?");
  if (!detach.ok()) return detach.status();
  // Moved employees are first made top-level, so that no order of the
  // moves below passes through a cycle that the end state does not have.
  std::vector<int64_t> moved;
  auto compare = db_.Prepare(kCompare);
  if (!compare.ok()) return compare.status();
  absl::Status s = compare->ForEachRow([&] {
    if (!compare->IsNull(8) && Moves(*compare)) {
      moved.push_back(compare->Int64(0));
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  for (int64_t id : moved) {
    detach->Bind(1, id);
    if (s = detach->Run(); !s.ok()) return s;
  }
  absl::flat_hash_set<int64_t> was_moved(moved.begin(), moved.end());
  auto insert = db_.Prepare(kInsertNoPath);
  if (!insert.ok()) return insert.status();
  auto update = db_.Prepare(kUpdate);
  if (!update.ok()) return update.status();
  compare->Reset();
  s = compare->ForEachRow([&] {
    const int64_t id = compare->Int64(0);
    const std::optional<int64_t> manager = compare->OptionalInt64(1);
    const std::optional<int64_t> department_id =
        DepartmentId(departments, compare->Text(2));
    const bool exists = !compare->IsNull(8);
    if (exists && !was_moved.contains(id) &&
        SameFields(*compare, department_id)) {
      ++summary->unchanged;
      return absl::OkStatus();
    }
    store::Statement& q = exists ? *update : *insert;
    q.Bind(1, id);
    q.Bind(2, manager);
    q.Bind(3, department_id);
    for (int c = 3; c <= 6; ++c) q.Bind(c + 1, compare->TextView(c));
    q.Bind(8, compare->OptionalText(7));
    absl::Status written = q.Run();
    if (!written.ok()) return written;
    if (exists) {
      ++summary->updated;
    } else {
      ++summary->added;
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  summary->moved = static_cast<int64_t>(moved.size());
  return absl::OkStatus();
}

absl::StatusOr<WriteSummary> Importer::Apply() {
  absl::StatusOr<WriteSummary> summary = ApplyRows();
  if (!summary.ok()) {
    return store::WithContext(summary.status(), "applying the import");
  }
  return summary;
}

absl::StatusOr<WriteSummary> Importer::ApplyRows() {
  WriteSummary summary;
  absl::flat_hash_map<std::string, int64_t> departments;
  auto last_department_before =
      db_.SelectInt("SELECT coalesce(max(id), 0) FROM departments");
  if (!last_department_before.ok()) return last_department_before.status();
  if (absl::Status s = ApplyDepartments(&summary, &departments); !s.ok()) {
    return s;
  }
  auto existing = db_.SelectInt("SELECT count(*) FROM employees");
  if (!existing.ok()) return existing.status();
  if (options_.mode == ImportMode::kReplace || *existing == 0) {
    // Count what changes, then load the listed employees afresh: faster
    // than row-by-row changes for a whole organisation, and deletes need
    // no subtree rewrites.
    WriteSummary counted = summary;
    int64_t matched = 0;
    if (*existing == 0) {
      counted.added = static_cast<int64_t>(staged_);
    } else {
      auto compare = db_.Prepare(kCompare);
      if (!compare.ok()) return compare.status();
      absl::Status s = compare->ForEachRow([&] {
        if (compare->IsNull(8)) {
          ++counted.added;
          return absl::OkStatus();
        }
        ++matched;
        const bool moved = Moves(*compare);
        counted.moved += moved;
        if (!moved &&
            SameFields(*compare, DepartmentId(departments, compare->Text(2)))) {
          ++counted.unchanged;
        } else {
          ++counted.updated;
        }
        return absl::OkStatus();
      });
      if (!s.ok()) return s;
    }
    counted.deleted = *existing - matched;
    summary = counted;
    if (summary.added + summary.updated + summary.deleted > 0) {
      if (absl::Status s = BulkInsert(departments); !s.ok()) return s;
    }
  } else if (absl::Status s = Merge(departments, &summary); !s.ok()) {
    return s;
  }
  // Departments' parents and heads, now that every employee is in place.
  auto staged = db_.Prepare(
      "SELECT d.id, p.id, s.head_employee_id, d.parent_id IS NOT p.id OR "
      "(s.head_employee_id IS NOT NULL AND d.head_employee_id IS NOT "
      "s.head_employee_id) FROM temp.import_departments s JOIN departments "
      "d ON d.id = (SELECT min(id) FROM departments WHERE name = s.name) "
      "LEFT JOIN departments p ON p.id = (SELECT min(id) FROM departments "
      "WHERE name = s.parent) ORDER BY s.line");
  if (!staged.ok()) return staged.status();
  auto set = db_.Prepare(
      "UPDATE departments SET parent_id = ?2, head_employee_id = "
      "coalesce(?3, head_employee_id) WHERE id = ?1");
  if (!set.ok()) return set.status();
  std::vector<
      std::tuple<int64_t, std::optional<int64_t>, std::optional<int64_t>>>
      changes;
  absl::Status s = staged->ForEachRow([&] {
    if (staged->Int64(3) != 0) {
      changes.emplace_back(staged->Int64(0), staged->OptionalInt64(1),
                           staged->OptionalInt64(2));
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  for (const auto& [id, parent, head] : changes) {
    set->Bind(1, id);
    set->Bind(2, parent);
    set->Bind(3, head);
    if (s = set->Run(); !s.ok()) return s;
  }
  // Departments added above were given ids past every earlier one.
  for (const auto& change : changes) {
    if (std::get<0>(change) <= *last_department_before) {
      ++summary.departments_updated;
    }
  }
  return summary;
}

namespace {

// Export's rows, in one read snapshot.
absl::Status ExportRows(store::Database& db, Format format,
                        std::FILE* employees, std::FILE* departments) {
  auto snapshot = store::ReadTransaction::Begin(db);
  if (!snapshot.ok()) return snapshot.status();
  auto notes = db.SelectInt(
      "SELECT count(*) FROM pragma_table_info('employees') WHERE name = "
      "'notes'");
  if (!notes.ok()) return notes.status();
  RecordWriter out(employees, format);
  out.EmployeeHeader();
  auto q = db.Prepare(
      absl::StrCat("SELECT e.id, e.manager_id, e.full_name, e.title, "
                   "e.email, d.name, e.hire_date, ",
                   *notes > 0 ? "e.notes" : "NULL",
                   " FROM employees e LEFT JOIN departments d ON d.id = "
                   "e.department_id ORDER BY e.id"));
  if (!q.ok()) return q.status();
  EmployeeRow row;
  absl::Status s = q->ForEachRow([&] {
    row.id = q->Int64(0);
    row.manager_id = q->OptionalInt64(1);
    row.full_name = q->Text(2);
    row.title = q->Text(3);
    row.email = q->Text(4);
    row.department = q->Text(5);
    row.hire_date = q->Text(6);
    row.notes = q->OptionalText(7);
    if (row.notes.has_value() && row.notes->empty()) row.notes.reset();
    out.Employee(row);
    return absl::OkStatus();
  });
  if (!s.ok() || departments == nullptr) return s;
  RecordWriter dout(departments, format);
  dout.DepartmentHeader();
  auto d = db.Prepare(
      "SELECT d.name, p.name, d.head_employee_id FROM departments d LEFT "
      "JOIN departments p ON p.id = d.parent_id ORDER BY d.name, d.id");
  if (!d.ok()) return d.status();
  DepartmentRow drow;
  return d->ForEachRow([&] {
    drow.name = d->Text(0);
    drow.parent = d->Text(1);
    drow.head_employee_id = d->OptionalInt64(2);
    dout.Department(drow);
    return absl::OkStatus();
  });
}

}  // namespace

absl::Status Export(store::Database& db, Format format, std::FILE* employees,
                    std::FILE* departments) {
  auto has_employees = store::TableExists(db, "employees");
  if (!has_employees.ok()) return has_employees.status();
  if (!*has_employees) {
    return absl::FailedPreconditionError(
        "the database has no employees table: run 'pulse-schema upgrade "
        "head'");
  }
  if (absl::Status s = ExportRows(db, format, employees, departments);
      !s.ok()) {
    return store::WithContext(s, "exporting");
  }
  if (std::ferror(employees) ||
      (departments != nullptr && std::ferror(departments))) {
    return absl::UnavailableError("writing the export failed");
  }
  return absl::OkStatus();
}

}  // namespace pulse::write
