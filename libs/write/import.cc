#include "libs/write/import.h"

#include <algorithm>
#include <optional>
#include <tuple>

#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
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

void BindOptional(SQLite::Statement& q, int index,
                  const std::optional<int64_t>& v) {
  if (v.has_value()) {
    q.bind(index, *v);
  } else {
    q.bind(index);
  }
}

std::optional<int64_t> OptionalInt(const SQLite::Column& c) {
  if (c.isNull()) return std::nullopt;
  return c.getInt64();
}

std::optional<std::string> OptionalText(const SQLite::Column& c) {
  if (c.isNull()) return std::nullopt;
  return c.getString();
}

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
bool SameFields(SQLite::Statement& compare,
                const std::optional<int64_t>& department_id) {
  if (department_id != OptionalInt(compare.getColumn(10))) return false;
  for (int c = 3; c <= 6; ++c) {
    if (compare.getColumn(c).getString() !=
        compare.getColumn(c + 8).getString()) {
      return false;
    }
  }
  return OptionalText(compare.getColumn(7)) ==
         OptionalText(compare.getColumn(15));
}

// Whether the row of kCompare on `compare` gives a stored employee another
// manager.
bool Moves(SQLite::Statement& compare) {
  return OptionalInt(compare.getColumn(1)) != OptionalInt(compare.getColumn(9));
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
    SQLite::Database& db, ImportOptions options) {
  std::unique_ptr<Importer> importer(new Importer(db, std::move(options)));
  try {
    for (const char* column : {"notes", "org_path"}) {
      SQLite::Statement q(db,
                          "SELECT count(*) FROM pragma_table_info('employees') "
                          "WHERE name = ?");
      q.bind(1, column);
      if (!q.executeStep() || q.getColumn(0).getInt() == 0) {
        return absl::FailedPreconditionError(
            "the database's schema is too old for writes (no employees "
            "table, or no subtree index): run 'pulse-schema upgrade head'");
      }
    }
    db.exec("PRAGMA temp.cache_size = -32768");
    db.exec(kCreateStaging);
    db.exec("BEGIN");
    importer->staging_ = true;
    importer->stage_employee_ =
        std::make_unique<SQLite::Statement>(db, kStageEmployee);
    importer->stage_department_ =
        std::make_unique<SQLite::Statement>(db, kStageDepartment);
  } catch (const SQLite::Exception& e) {
    return store::FromException(e, "preparing the import");
  }
  return importer;
}

Importer::~Importer() {
  stage_employee_.reset();
  stage_department_.reset();
  try {
    if (staging_) db_.exec("ROLLBACK");
    // Dropping is faster than deleting a large import's rows.
    db_.exec("DROP TABLE IF EXISTS temp.import_employees");
    db_.exec("DROP TABLE IF EXISTS temp.import_departments");
    db_.exec("DROP TABLE IF EXISTS temp.import_heads");
  } catch (const SQLite::Exception&) {
    // The connection is closing or the tables were never made.
  }
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
  try {
    SQLite::Statement& q = *stage_employee_;
    q.bind(1, row.id);
    q.bind(2, row.line);
    BindOptional(q, 3, row.manager_id);
    q.bind(4, row.department);
    q.bind(5, row.full_name);
    q.bind(6, row.title);
    q.bind(7, row.email);
    q.bind(8, row.hire_date);
    if (row.notes.has_value()) {
      q.bind(9, *row.notes);
    } else {
      q.bind(9);
    }
    q.exec();
    q.reset();
    ++staged_;
  } catch (const SQLite::Exception& e) {
    return store::FromException(e, "staging the import");
  }
  return absl::OkStatus();
}

absl::Status Importer::AddDepartment(const DepartmentRow& row) {
  try {
    SQLite::Statement check(db_,
                            "SELECT line FROM temp.import_departments WHERE "
                            "name = ?");
    check.bind(1, row.name);
    if (check.executeStep()) {
      errors_.push_back(
          {row.line, "name",
           absl::StrCat("duplicate department '", row.name, "' (also on line ",
                        check.getColumn(0).getInt64(), ")"),
           absl::StatusCode::kAlreadyExists});
      return absl::OkStatus();
    }
    SQLite::Statement& q = *stage_department_;
    q.bind(1, row.name);
    q.bind(2, row.line);
    q.bind(3, row.parent);
    BindOptional(q, 4, row.head_employee_id);
    q.exec();
    q.reset();
    ++departments_;
  } catch (const SQLite::Exception& e) {
    return store::FromException(e, "staging the import");
  }
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
  try {
    stage_employee_.reset();
    stage_department_.reset();
    db_.exec("COMMIT");
    staging_ = false;
  } catch (const SQLite::Exception& e) {
    return store::FromException(e, "staging the import");
  }
  // A whole organisation (into an empty table, or replacing one) is loaded
  // with foreign keys off: with them on, every row inserted would look up
  // its manager and, while reports inserted before their managers wait,
  // its own reports (about 10 s of a million-row load). The import checks
  // every reference itself, and CheckReferences confirms it before commit. The
  // pragma cannot change inside a transaction, so this is decided before it
  // begins; Apply checks again inside.
  bool foreign_keys_off = false;
  try {
    foreign_keys_off =
        options_.mode == ImportMode::kReplace ||
        !db_.execAndGet("SELECT EXISTS (SELECT 1 FROM employees)").getInt();
    if (foreign_keys_off) db_.exec("PRAGMA foreign_keys = OFF");
  } catch (const SQLite::Exception& e) {
    return store::FromException(e, "preparing the import");
  }
  struct RestoreForeignKeys {
    SQLite::Database& db;
    bool off;
    ~RestoreForeignKeys() {
      if (!off) return;
      try {
        db.exec("PRAGMA foreign_keys = ON");
      } catch (const SQLite::Exception&) {
        // Only inside a transaction, which the one below has ended by now.
      }
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
  try {
    for (const char* sql : kBroken) {
      SQLite::Statement q(db_, sql);
      if (q.executeStep()) {
        return absl::InternalError(absl::StrCat(
            "the import would leave a broken reference (",
            q.getColumn(0).getString(),
            ", who does not exist) that its checks missed; nothing was "
            "changed"));
      }
    }
  } catch (const SQLite::Exception& e) {
    return store::FromException(e, "checking the import's references");
  }
  return absl::OkStatus();
}

absl::Status Importer::Validate() {
  const bool merge = options_.mode == ImportMode::kMerge;
  try {
    SQLite::Statement exists(db_,
                             "SELECT org_path FROM employees WHERE id = ?");
    // Whether `id` will exist once the import is applied.
    auto will_exist = [&](int64_t id) {
      if (nodes_.contains(id)) return true;
      if (!merge) return false;
      exists.bind(1, id);
      const bool found = exists.executeStep();
      exists.reset();
      return found;
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
      errors_.push_back(
          {node.line, "manager_id",
           absl::StrCat("no employee ", node.manager,
                        merge ? " in the file or the database"
                              : " in the file (--mode=replace keeps only the "
                                "file's employees)")});
    }

    SQLite::Statement dup_emails(
        db_,
        "SELECT email, group_concat(line, ', ') FROM (SELECT email, line FROM "
        "temp.import_employees ORDER BY line) GROUP BY email HAVING count(*) > "
        "1");
    while (emails_may_repeat_ && dup_emails.executeStep()) {
      const std::string lines = dup_emails.getColumn(1).getString();
      const int64_t first = std::stoll(lines);
      errors_.push_back({first, "email",
                         absl::StrCat("duplicate email '",
                                      dup_emails.getColumn(0).getString(),
                                      "' (lines ", lines, ")"),
                         absl::StatusCode::kAlreadyExists});
    }
    if (merge) {
      // An email kept by an employee the file does not list.
      SQLite::Statement taken(
          db_,
          "SELECT s.line, s.email, e.id FROM temp.import_employees s JOIN "
          "main.employees e ON e.email = s.email WHERE e.id <> s.id AND NOT "
          "EXISTS (SELECT 1 FROM temp.import_employees t WHERE t.id = e.id)");
      while (taken.executeStep()) {
        errors_.push_back({taken.getColumn(0).getInt64(), "email",
                           absl::StrCat("'", taken.getColumn(1).getString(),
                                        "' already belongs to employee ",
                                        taken.getColumn(2).getInt64()),
                           absl::StatusCode::kAlreadyExists});
      }
    }

    // Departments: parents known, heads will exist.
    SQLite::Statement departments(
        db_,
        "SELECT line, name, parent, head_employee_id FROM "
        "temp.import_departments ORDER BY line");
    SQLite::Statement known_department(
        db_,
        "SELECT 1 FROM temp.import_departments WHERE name = ?1 UNION ALL "
        "SELECT 1 FROM main.departments WHERE name = ?1");
    absl::flat_hash_map<std::string, std::string> parents;
    std::vector<std::pair<int64_t, std::string>> order;
    while (departments.executeStep()) {
      const int64_t line = departments.getColumn(0).getInt64();
      const std::string name = departments.getColumn(1).getString();
      const std::string parent = departments.getColumn(2).getString();
      parents[name] = parent;
      order.emplace_back(line, name);
      if (!parent.empty()) {
        known_department.bind(1, parent);
        if (!known_department.executeStep()) {
          errors_.push_back(
              {line, "parent", absl::StrCat("no department '", parent, "'")});
        }
        known_department.reset();
      }
      if (!departments.getColumn(3).isNull()) {
        const int64_t head = departments.getColumn(3).getInt64();
        if (!will_exist(head)) {
          errors_.push_back(
              {line, "head_employee_id", absl::StrCat("no employee ", head)});
        }
      }
    }
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
      exists.bind(1, id);
      if (!exists.executeStep()) {
        exists.reset();
        return std::nullopt;
      }
      const std::string path = exists.getColumn(0).getString();
      exists.reset();
      const size_t levels = path.size() / kComponent;
      for (size_t k = 2; k <= levels; ++k) {
        const int64_t above = store::ComponentId(path, k);
        if (nodes_.contains(above)) return above;
      }
      return std::nullopt;
    };
    CheckCycles(nearest_listed);
  } catch (const SQLite::Exception& e) {
    return store::FromException(e, "validating the import");
  }
  return absl::OkStatus();
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
  SQLite::Statement all(db_,
                        "SELECT name, id FROM departments ORDER BY id DESC");
  while (all.executeStep()) {
    (*ids)[all.getColumn(0).getString()] = all.getColumn(1).getInt64();
  }
  SQLite::Statement insert(db_, "INSERT INTO departments (name) VALUES (?)");
  auto ensure = [&](const std::string& name) {
    if (name.empty() || ids->contains(name)) return;
    insert.bind(1, name);
    insert.exec();
    insert.reset();
    (*ids)[name] = db_.getLastInsertRowid();
    ++summary->departments_added;
  };
  SQLite::Statement staged(
      db_, "SELECT name, parent FROM temp.import_departments ORDER BY line");
  while (staged.executeStep()) {
    ensure(staged.getColumn(0).getString());
    ensure(staged.getColumn(1).getString());
  }
  SQLite::Statement named(
      db_, "SELECT DISTINCT department FROM temp.import_employees");
  while (named.executeStep()) ensure(named.getColumn(0).getString());
  return absl::OkStatus();
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
  db_.exec(
      "CREATE TEMP TABLE IF NOT EXISTS import_heads (department_id INTEGER "
      "PRIMARY KEY, head_employee_id INTEGER)");
  db_.exec("DELETE FROM temp.import_heads");
  db_.exec(
      "INSERT INTO temp.import_heads SELECT id, head_employee_id FROM "
      "departments WHERE head_employee_id IN (SELECT id FROM "
      "temp.import_employees)");
  db_.exec("UPDATE departments SET head_employee_id = NULL");
  // With foreign keys on (a table that filled up since Finish looked), each
  // row inserted looks for its reports to settle the deferred references
  // of reports inserted before it: a full scan without employees_manager_id.
  const bool foreign_keys = db_.execAndGet("PRAGMA foreign_keys").getInt() != 0;
  const std::vector<std::string> suspended = store::SuspendIndexesAndTriggers(
      db_, "employees",
      foreign_keys ? std::vector<std::string>{"employees_manager_id"}
                   : std::vector<std::string>{});
  db_.exec("DELETE FROM employees");
  SQLite::Statement rows(
      db_,
      "SELECT id, manager_id, department, full_name, title, email, hire_date, "
      "notes FROM temp.import_employees ORDER BY id");
  SQLite::Statement insert(db_, kInsert);
  std::string path;
  while (rows.executeStep()) {
    const int64_t id = rows.getColumn(0).getInt64();
    insert.bind(1, id);
    const std::optional<int64_t> manager = OptionalInt(rows.getColumn(1));
    BindOptional(insert, 2, manager);
    const std::string department = rows.getColumn(2).getString();
    if (department.empty()) {
      insert.bind(3);
    } else {
      insert.bind(3, departments.at(department));
    }
    for (int c = 3; c <= 6; ++c) {
      const SQLite::Column v = rows.getColumn(c);
      insert.bindNoCopy(c + 1, static_cast<const char*>(v.getText()));
    }
    const SQLite::Column notes = rows.getColumn(7);
    if (notes.isNull()) {
      insert.bind(8);
    } else {
      insert.bindNoCopy(8, static_cast<const char*>(notes.getText()));
    }
    path = manager.has_value() ? paths.at(*manager) : std::string();
    path += PathComponent(id);
    insert.bindNoCopy(9, path);
    insert.exec();
    insert.reset();
  }
  store::RestoreSchema(db_, suspended);
  // The triggers that replace the path generation were set aside.
  store::ReplacePathGeneration(db_);
  db_.exec(
      "UPDATE departments SET head_employee_id = (SELECT h.head_employee_id "
      "FROM temp.import_heads h WHERE h.department_id = departments.id) WHERE "
      "id IN (SELECT department_id FROM temp.import_heads)");
  return absl::OkStatus();
}

absl::Status Importer::Merge(
    const absl::flat_hash_map<std::string, int64_t>& departments,
    WriteSummary* summary) {
  SQLite::Statement detach(
      db_, "UPDATE employees SET manager_id = NULL WHERE id = ?");
  // Moved employees are first made top-level, so that no order of the
  // moves below passes through a cycle that the end state does not have.
  std::vector<int64_t> moved;
  {
    SQLite::Statement compare(db_, kCompare);
    while (compare.executeStep()) {
      if (compare.getColumn(8).isNull()) continue;
      if (Moves(compare)) moved.push_back(compare.getColumn(0).getInt64());
    }
  }
  for (int64_t id : moved) {
    detach.bind(1, id);
    detach.exec();
    detach.reset();
  }
  absl::flat_hash_set<int64_t> was_moved(moved.begin(), moved.end());
  SQLite::Statement compare(db_, kCompare);
  SQLite::Statement insert(db_, kInsertNoPath);
  SQLite::Statement update(db_, kUpdate);
  while (compare.executeStep()) {
    const int64_t id = compare.getColumn(0).getInt64();
    const std::optional<int64_t> manager = OptionalInt(compare.getColumn(1));
    const std::optional<int64_t> department_id =
        DepartmentId(departments, compare.getColumn(2).getString());
    const bool exists = !compare.getColumn(8).isNull();
    if (exists && !was_moved.contains(id) &&
        SameFields(compare, department_id)) {
      ++summary->unchanged;
      continue;
    }
    SQLite::Statement& q = exists ? update : insert;
    q.bind(1, id);
    BindOptional(q, 2, manager);
    BindOptional(q, 3, department_id);
    for (int c = 3; c <= 6; ++c)
      q.bind(c + 1, compare.getColumn(c).getString());
    const std::optional<std::string> notes = OptionalText(compare.getColumn(7));
    if (notes.has_value()) {
      q.bind(8, *notes);
    } else {
      q.bind(8);
    }
    q.exec();
    q.reset();
    if (exists) {
      ++summary->updated;
    } else {
      ++summary->added;
    }
  }
  summary->moved = static_cast<int64_t>(moved.size());
  return absl::OkStatus();
}

absl::StatusOr<WriteSummary> Importer::Apply() {
  WriteSummary summary;
  try {
    absl::flat_hash_map<std::string, int64_t> departments;
    const int64_t last_department_before =
        db_.execAndGet("SELECT coalesce(max(id), 0) FROM departments")
            .getInt64();
    if (absl::Status s = ApplyDepartments(&summary, &departments); !s.ok()) {
      return s;
    }
    const int64_t existing =
        db_.execAndGet("SELECT count(*) FROM employees").getInt64();
    if (options_.mode == ImportMode::kReplace || existing == 0) {
      // Count what changes, then load the listed employees afresh: faster
      // than row-by-row changes for a whole organisation, and deletes need
      // no subtree rewrites.
      WriteSummary counted = summary;
      SQLite::Statement compare(db_, kCompare);
      int64_t matched = 0;
      if (existing == 0) counted.added = static_cast<int64_t>(staged_);
      while (existing > 0 && compare.executeStep()) {
        if (compare.getColumn(8).isNull()) {
          ++counted.added;
          continue;
        }
        ++matched;
        const bool moved = Moves(compare);
        counted.moved += moved;
        if (!moved &&
            SameFields(
                compare,
                DepartmentId(departments, compare.getColumn(2).getString()))) {
          ++counted.unchanged;
        } else {
          ++counted.updated;
        }
      }
      compare.reset();
      counted.deleted = existing - matched;
      summary = counted;
      if (summary.added + summary.updated + summary.deleted > 0) {
        if (absl::Status s = BulkInsert(departments); !s.ok()) {
          return s;
        }
      }
    } else if (absl::Status s = Merge(departments, &summary); !s.ok()) {
      return s;
    }
    // Departments' parents and heads, now that every employee is in place.
    SQLite::Statement staged(
        db_,
        "SELECT d.id, p.id, s.head_employee_id, d.parent_id IS NOT p.id OR "
        "(s.head_employee_id IS NOT NULL AND d.head_employee_id IS NOT "
        "s.head_employee_id) FROM temp.import_departments s JOIN departments "
        "d ON d.id = (SELECT min(id) FROM departments WHERE name = s.name) "
        "LEFT JOIN departments p ON p.id = (SELECT min(id) FROM departments "
        "WHERE name = s.parent) ORDER BY s.line");
    SQLite::Statement set(
        db_,
        "UPDATE departments SET parent_id = ?2, head_employee_id = "
        "coalesce(?3, head_employee_id) WHERE id = ?1");
    std::vector<
        std::tuple<int64_t, std::optional<int64_t>, std::optional<int64_t>>>
        changes;
    while (staged.executeStep()) {
      if (staged.getColumn(3).getInt() == 0) continue;
      changes.emplace_back(staged.getColumn(0).getInt64(),
                           OptionalInt(staged.getColumn(1)),
                           OptionalInt(staged.getColumn(2)));
    }
    staged.reset();
    for (const auto& [id, parent, head] : changes) {
      set.bind(1, id);
      BindOptional(set, 2, parent);
      BindOptional(set, 3, head);
      set.exec();
      set.reset();
    }
    // Departments added above were given ids past every earlier one.
    for (const auto& change : changes) {
      if (std::get<0>(change) <= last_department_before) {
        ++summary.departments_updated;
      }
    }
  } catch (const SQLite::Exception& e) {
    return store::FromException(e, "applying the import");
  }
  return summary;
}

absl::Status Export(SQLite::Database& db, Format format, std::FILE* employees,
                    std::FILE* departments) {
  try {
    if (!db.tableExists("employees")) {
      return absl::FailedPreconditionError(
          "the database has no employees table: run 'pulse-schema upgrade "
          "head'");
    }
    // One read transaction, so both files come from one snapshot.
    store::ReadTransaction snapshot(db);
    const bool notes =
        db.execAndGet(
              "SELECT count(*) FROM pragma_table_info('employees') WHERE name "
              "= 'notes'")
            .getInt() > 0;
    RecordWriter out(employees, format);
    out.EmployeeHeader();
    SQLite::Statement q(
        db, absl::StrCat("SELECT e.id, e.manager_id, e.full_name, e.title, "
                         "e.email, d.name, e.hire_date, ",
                         notes ? "e.notes" : "NULL",
                         " FROM employees e LEFT JOIN departments d ON d.id = "
                         "e.department_id ORDER BY e.id"));
    EmployeeRow row;
    while (q.executeStep()) {
      row.id = q.getColumn(0).getInt64();
      row.manager_id = OptionalInt(q.getColumn(1));
      row.full_name = q.getColumn(2).getString();
      row.title = q.getColumn(3).getString();
      row.email = q.getColumn(4).getString();
      row.department = q.getColumn(5).getString();
      row.hire_date = q.getColumn(6).getString();
      row.notes = OptionalText(q.getColumn(7));
      if (row.notes.has_value() && row.notes->empty()) row.notes.reset();
      out.Employee(row);
    }
    if (departments != nullptr) {
      RecordWriter dout(departments, format);
      dout.DepartmentHeader();
      SQLite::Statement d(
          db,
          "SELECT d.name, p.name, d.head_employee_id FROM departments d LEFT "
          "JOIN departments p ON p.id = d.parent_id ORDER BY d.name, d.id");
      DepartmentRow drow;
      while (d.executeStep()) {
        drow.name = d.getColumn(0).getString();
        drow.parent = d.getColumn(1).getString();
        drow.head_employee_id = OptionalInt(d.getColumn(2));
        dout.Department(drow);
      }
    }
  } catch (const SQLite::Exception& e) {
    return store::FromException(e, "exporting");
  }
  if (std::ferror(employees) ||
      (departments != nullptr && std::ferror(departments))) {
    return absl::UnavailableError("writing the export failed");
  }
  return absl::OkStatus();
}

}  // namespace pulse::write
