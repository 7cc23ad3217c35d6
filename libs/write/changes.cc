#include "libs/write/changes.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "libs/store/pool.h"
#include "libs/store/store.h"

namespace pulse::write {
namespace {

// Applies one change; `at` names it in errors ("changes[3].move_employee").
class ChangeApplier {
 public:
  ChangeApplier(store::Connection& connection, WriteSummary* summary)
      : connection_(connection), db_(connection.db()), summary_(summary) {}

  absl::Status operator()(const std::string& at, const UpsertEmployee& c) {
    EmployeeRow row;
    row.id = c.id;
    row.manager_id = c.manager_id;
    row.full_name = c.full_name;
    row.email = c.email;
    row.hire_date = c.hire_date;
    std::vector<RowError> errors;
    CheckEmployee(row, &errors);
    if (!errors.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(at, ".", errors[0].column, ": ", errors[0].problem));
    }
    if (c.manager_id && !EmployeeExists(*c.manager_id)) {
      return absl::NotFoundError(
          absl::StrCat(at, ".manager_id: no employee ", *c.manager_id));
    }
    if (c.department_id && !DepartmentExists(*c.department_id)) {
      return absl::NotFoundError(
          absl::StrCat(at, ".department_id: no department ", *c.department_id));
    }
    SQLite::Statement& owner =
        connection_.Prepare("SELECT id FROM employees WHERE email = ?");
    owner.bind(1, c.email);
    if (owner.executeStep() && owner.getColumn(0).getInt64() != c.id) {
      return absl::AlreadyExistsError(absl::StrCat(
          at, ".email: '", c.email, "' already belongs to employee ",
          owner.getColumn(0).getInt64()));
    }
    SQLite::Statement& current =
        connection_.Prepare("SELECT manager_id FROM employees WHERE id = ?");
    current.bind(1, c.id);
    const bool exists = current.executeStep();
    std::optional<int64_t> old_manager;
    if (exists && !current.getColumn(0).isNull()) {
      old_manager = current.getColumn(0).getInt64();
    }
    current.reset();
    if (exists && old_manager != c.manager_id && c.manager_id) {
      if (absl::Status s = CheckNoCycle(at, c.id, *c.manager_id); !s.ok()) {
        return s;
      }
    }
    SQLite::Statement& q = connection_.Prepare(
        exists ? "UPDATE employees SET manager_id = ?2, department_id = "
                 "?3, full_name = ?4, title = ?5, email = ?6, hire_date = "
                 "?7, notes = ?8 WHERE id = ?1"
               : "INSERT INTO employees (id, manager_id, department_id, "
                 "full_name, title, email, hire_date, notes) VALUES (?1, "
                 "?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    q.bind(1, c.id);
    Bind(q, 2, c.manager_id);
    Bind(q, 3, c.department_id);
    q.bind(4, c.full_name);
    q.bind(5, c.title);
    q.bind(6, c.email);
    q.bind(7, c.hire_date);
    if (c.notes) {
      q.bind(8, *c.notes);
    } else {
      q.bind(8);
    }
    if (absl::Status s = Run(at, q); !s.ok()) return s;
    if (!exists) {
      ++summary_->added;
    } else {
      ++summary_->updated;
      if (old_manager != c.manager_id) ++summary_->moved;
    }
    return absl::OkStatus();
  }

  absl::Status operator()(const std::string& at, const MoveEmployee& c) {
    if (!EmployeeExists(c.id)) {
      return absl::NotFoundError(absl::StrCat(at, ".id: no employee ", c.id));
    }
    if (c.new_manager_id) {
      if (*c.new_manager_id == c.id) {
        return absl::InvalidArgumentError(absl::StrCat(
            at, ".new_manager_id: an employee cannot be their own manager"));
      }
      if (!EmployeeExists(*c.new_manager_id)) {
        return absl::NotFoundError(absl::StrCat(
            at, ".new_manager_id: no employee ", *c.new_manager_id));
      }
      if (absl::Status s = CheckNoCycle(at, c.id, *c.new_manager_id); !s.ok()) {
        return s;
      }
    }
    SQLite::Statement& q = connection_.Prepare(
        "UPDATE employees SET manager_id = ?2 WHERE id = ?1 "
        "AND manager_id IS NOT ?2");
    q.bind(1, c.id);
    Bind(q, 2, c.new_manager_id);
    if (absl::Status s = Run(at, q); !s.ok()) return s;
    summary_->moved += db_.getChanges();
    summary_->updated += db_.getChanges();
    return absl::OkStatus();
  }

  absl::Status operator()(const std::string& at, const DeleteEmployee& c) {
    SQLite::Statement& current =
        connection_.Prepare("SELECT manager_id FROM employees WHERE id = ?");
    current.bind(1, c.id);
    if (!current.executeStep()) {
      return absl::NotFoundError(absl::StrCat(at, ".id: no employee ", c.id));
    }
    std::optional<int64_t> target;
    if (!current.getColumn(0).isNull()) {
      target = current.getColumn(0).getInt64();
    }
    current.reset();
    if (c.reassign_reports_to) {
      if (*c.reassign_reports_to == c.id) {
        return absl::InvalidArgumentError(absl::StrCat(
            at, ".reassign_reports_to: cannot be the employee deleted"));
      }
      if (!EmployeeExists(*c.reassign_reports_to)) {
        return absl::NotFoundError(absl::StrCat(
            at, ".reassign_reports_to: no employee ", *c.reassign_reports_to));
      }
      if (absl::Status s = CheckNoCycle(at, c.id, *c.reassign_reports_to);
          !s.ok()) {
        return absl::FailedPreconditionError(absl::StrCat(
            at, ".reassign_reports_to: employee ", *c.reassign_reports_to,
            " is in the subtree of employee ", c.id,
            ", who is being deleted; reassign the reports outside it"));
      }
      target = c.reassign_reports_to;
    }
    SQLite::Statement& reassign = connection_.Prepare(
        "UPDATE employees SET manager_id = ?2 WHERE manager_id = ?1");
    reassign.bind(1, c.id);
    Bind(reassign, 2, target);
    if (absl::Status s = Run(at, reassign); !s.ok()) return s;
    summary_->reports_reassigned += db_.getChanges();
    SQLite::Statement& q =
        connection_.Prepare("DELETE FROM employees WHERE id = ?");
    q.bind(1, c.id);
    if (absl::Status s = Run(at, q); !s.ok()) return s;
    ++summary_->deleted;
    return absl::OkStatus();
  }

  absl::Status operator()(const std::string& at, const UpsertDepartment& c) {
    if (c.id < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(at, ".id: must be 0 (a new department) or positive"));
    }
    if (c.name.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(at, ".name: missing"));
    }
    const bool exists = c.id > 0 && DepartmentExists(c.id);
    if (c.parent_id) {
      if (*c.parent_id == c.id) {
        return absl::InvalidArgumentError(absl::StrCat(
            at, ".parent_id: a department cannot be its own parent"));
      }
      if (!DepartmentExists(*c.parent_id)) {
        return absl::NotFoundError(
            absl::StrCat(at, ".parent_id: no department ", *c.parent_id));
      }
      if (exists) {
        // The new parent must not be below the department.
        SQLite::Statement& up = connection_.Prepare(
            "SELECT parent_id FROM departments WHERE id = ?");
        std::optional<int64_t> at_id = c.parent_id;
        for (int steps = 0; at_id && steps < 100000; ++steps) {
          if (*at_id == c.id) {
            return absl::FailedPreconditionError(absl::StrCat(
                at, ".parent_id: department ", *c.parent_id,
                " is below department ", c.id, " (a department cycle)"));
          }
          up.bind(1, *at_id);
          at_id.reset();
          if (up.executeStep() && !up.getColumn(0).isNull()) {
            at_id = up.getColumn(0).getInt64();
          }
          up.reset();
        }
      }
    }
    if (c.head_employee_id && !EmployeeExists(*c.head_employee_id)) {
      return absl::NotFoundError(absl::StrCat(
          at, ".head_employee_id: no employee ", *c.head_employee_id));
    }
    SQLite::Statement& q = connection_.Prepare(
        exists ? "UPDATE departments SET name = ?2, parent_id = ?3, "
                 "head_employee_id = ?4 WHERE id = ?1"
               : "INSERT INTO departments (id, name, parent_id, "
                 "head_employee_id) VALUES (?1, ?2, ?3, ?4)");
    if (c.id > 0) {
      q.bind(1, c.id);
    } else {
      q.bind(1);
    }
    q.bind(2, c.name);
    Bind(q, 3, c.parent_id);
    Bind(q, 4, c.head_employee_id);
    if (absl::Status s = Run(at, q); !s.ok()) return s;
    if (exists) {
      ++summary_->departments_updated;
    } else {
      ++summary_->departments_added;
    }
    return absl::OkStatus();
  }

  absl::Status operator()(const std::string& at, const DeleteDepartment& c) {
    if (!DepartmentExists(c.id)) {
      return absl::NotFoundError(absl::StrCat(at, ".id: no department ", c.id));
    }
    for (const char* sql :
         {"UPDATE employees SET department_id = NULL WHERE department_id = ?1",
          "UPDATE departments SET parent_id = (SELECT parent_id FROM "
          "departments WHERE id = ?1) WHERE parent_id = ?1",
          "DELETE FROM departments WHERE id = ?1"}) {
      SQLite::Statement& q = connection_.Prepare(sql);
      q.bind(1, c.id);
      if (absl::Status s = Run(at, q); !s.ok()) return s;
    }
    ++summary_->departments_deleted;
    return absl::OkStatus();
  }

 private:
  static void Bind(SQLite::Statement& q, int index,
                   const std::optional<int64_t>& v) {
    if (v) {
      q.bind(index, *v);
    } else {
      q.bind(index);
    }
  }

  bool Exists(const char* sql, int64_t id) {
    SQLite::Statement& q = connection_.Prepare(sql);
    q.bind(1, id);
    return q.executeStep();
  }
  bool EmployeeExists(int64_t id) {
    return Exists("SELECT 1 FROM employees WHERE id = ?", id);
  }
  bool DepartmentExists(int64_t id) {
    return Exists("SELECT 1 FROM departments WHERE id = ?", id);
  }

  // FAILED_PRECONDITION when `manager` is in the subtree of `id`: the
  // subtree index makes it one comparison of paths.
  absl::Status CheckNoCycle(const std::string& at, int64_t id,
                            int64_t manager) {
    SQLite::Statement& q = connection_.Prepare(
        "SELECT m.org_path >= e.org_path AND m.org_path < e.org_path || 'g' "
        "FROM employees e, employees m WHERE e.id = ? AND m.id = ?");
    q.bind(1, id);
    q.bind(2, manager);
    if (q.executeStep() && q.getColumn(0).getInt() != 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          at, ": a manager cycle: employee ", id, " cannot report to employee ",
          manager, ", who is in their subtree"));
    }
    return absl::OkStatus();
  }

  absl::Status Run(const std::string& at, SQLite::Statement& q) {
    try {
      q.exec();
    } catch (const SQLite::Exception& e) {
      const std::string what = e.what();
      if (absl::StrContains(what, "manager cycle")) {
        return absl::FailedPreconditionError(absl::StrCat(at, ": ", what));
      }
      if (absl::StrContains(what, "out of range")) {
        return absl::InvalidArgumentError(absl::StrCat(at, ": ", what));
      }
      if (e.getErrorCode() == SQLITE_CONSTRAINT) {
        return absl::InvalidArgumentError(absl::StrCat(at, ": ", what));
      }
      return store::FromException(e, at);
    }
    return absl::OkStatus();
  }

  // Statements are prepared once per connection and reused.
  store::Connection& connection_;
  SQLite::Database& db_;
  WriteSummary* summary_;
};

constexpr const char* kChangeNames[] = {"upsert_employee", "move_employee",
                                        "delete_employee", "upsert_department",
                                        "delete_department"};

}  // namespace

absl::StatusOr<WriteSummary> ApplyChanges(
    store::Connection& connection, const std::vector<Change>& changes,
    bool validate_only,
    const std::function<absl::Status(SQLite::Database&)>& precondition) {
  SQLite::Database& db = connection.db();
  // No statement may keep a read open once the call is over.
  struct Reset {
    store::Connection& connection;
    ~Reset() { connection.ResetAll(); }
  } reset{connection};
  auto txn = store::WriteTransaction::Begin(db);
  if (!txn.ok()) return txn.status();
  if (precondition) {
    if (absl::Status s = precondition(db); !s.ok()) return s;
  }
  WriteSummary summary;
  ChangeApplier apply(connection, &summary);
  try {
    for (size_t i = 0; i < changes.size(); ++i) {
      const std::string at =
          absl::StrCat("changes[", i, "].", kChangeNames[changes[i].index()]);
      absl::Status s = std::visit(
          [&](const auto& change) { return apply(at, change); }, changes[i]);
      if (!s.ok()) return s;
    }
  } catch (const SQLite::Exception& e) {
    return store::FromException(e, "applying changes");
  }
  if (validate_only) return summary;
  if (absl::Status s = (*txn)->Commit(); !s.ok()) return s;
  return summary;
}

}  // namespace pulse::write
