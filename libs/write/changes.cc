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
    if (c.manager_id) {
      if (absl::Status s = EmployeeMustExist(at, "manager_id", *c.manager_id);
          !s.ok()) {
        return s;
      }
    }
    if (c.department_id) {
      if (absl::Status s =
              DepartmentMustExist(at, "department_id", *c.department_id);
          !s.ok()) {
        return s;
      }
    }
    auto owner = Lookup("SELECT id FROM employees WHERE email = ?", c.email);
    if (!owner.ok()) return owner.status();
    if (owner->found && owner->value != c.id) {
      return absl::AlreadyExistsError(
          absl::StrCat(at, ".email: '", c.email,
                       "' already belongs to employee ", *owner->value));
    }
    auto current = Lookup(kSelectManager, c.id);
    if (!current.ok()) return current.status();
    const bool exists = current->found;
    const std::optional<int64_t> old_manager = current->value;
    if (exists && old_manager != c.manager_id && c.manager_id) {
      if (absl::Status s = CheckNoCycle(at, c.id, *c.manager_id); !s.ok()) {
        return s;
      }
    }
    auto q = connection_.Prepare(
        exists ? "UPDATE employees SET manager_id = ?2, department_id = "
                 "?3, full_name = ?4, title = ?5, email = ?6, hire_date = "
                 "?7, notes = ?8 WHERE id = ?1"
               : "INSERT INTO employees (id, manager_id, department_id, "
                 "full_name, title, email, hire_date, notes) VALUES (?1, "
                 "?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    if (!q.ok()) return q.status();
    (*q)->Bind(1, c.id);
    (*q)->Bind(2, c.manager_id);
    (*q)->Bind(3, c.department_id);
    (*q)->Bind(4, c.full_name);
    (*q)->Bind(5, c.title);
    (*q)->Bind(6, c.email);
    (*q)->Bind(7, c.hire_date);
    (*q)->Bind(8, c.notes);
    if (absl::Status s = Run(at, **q); !s.ok()) return s;
    if (!exists) {
      ++summary_->added;
    } else {
      ++summary_->updated;
      if (old_manager != c.manager_id) ++summary_->moved;
    }
    return absl::OkStatus();
  }

  absl::Status operator()(const std::string& at, const MoveEmployee& c) {
    if (absl::Status s = EmployeeMustExist(at, "id", c.id); !s.ok()) {
      return s;
    }
    if (c.new_manager_id) {
      if (*c.new_manager_id == c.id) {
        return absl::InvalidArgumentError(absl::StrCat(
            at, ".new_manager_id: an employee cannot be their own manager"));
      }
      if (absl::Status s =
              EmployeeMustExist(at, "new_manager_id", *c.new_manager_id);
          !s.ok()) {
        return s;
      }
      if (absl::Status s = CheckNoCycle(at, c.id, *c.new_manager_id); !s.ok()) {
        return s;
      }
    }
    auto q = connection_.Prepare(
        "UPDATE employees SET manager_id = ?2 WHERE id = ?1 "
        "AND manager_id IS NOT ?2");
    if (!q.ok()) return q.status();
    (*q)->Bind(1, c.id);
    (*q)->Bind(2, c.new_manager_id);
    if (absl::Status s = Run(at, **q); !s.ok()) return s;
    summary_->moved += db_.Changes();
    summary_->updated += db_.Changes();
    return absl::OkStatus();
  }

  absl::Status operator()(const std::string& at, const DeleteEmployee& c) {
    auto current = Lookup(kSelectManager, c.id);
    if (!current.ok()) return current.status();
    if (!current->found) {
      return absl::NotFoundError(absl::StrCat(at, ".id: no employee ", c.id));
    }
    std::optional<int64_t> target = current->value;
    if (c.reassign_reports_to) {
      if (*c.reassign_reports_to == c.id) {
        return absl::InvalidArgumentError(absl::StrCat(
            at, ".reassign_reports_to: cannot be the employee deleted"));
      }
      if (absl::Status s = EmployeeMustExist(at, "reassign_reports_to",
                                             *c.reassign_reports_to);
          !s.ok()) {
        return s;
      }
      if (absl::Status s = CheckNoCycle(at, c.id, *c.reassign_reports_to);
          !s.ok()) {
        if (!absl::IsFailedPrecondition(s)) return s;
        return absl::FailedPreconditionError(absl::StrCat(
            at, ".reassign_reports_to: employee ", *c.reassign_reports_to,
            " is in the subtree of employee ", c.id,
            ", who is being deleted; reassign the reports outside it"));
      }
      target = c.reassign_reports_to;
    }
    auto reassign = connection_.Prepare(
        "UPDATE employees SET manager_id = ?2 WHERE manager_id = ?1");
    if (!reassign.ok()) return reassign.status();
    (*reassign)->Bind(1, c.id);
    (*reassign)->Bind(2, target);
    if (absl::Status s = Run(at, **reassign); !s.ok()) return s;
    summary_->reports_reassigned += db_.Changes();
    auto q = connection_.Prepare("DELETE FROM employees WHERE id = ?");
    if (!q.ok()) return q.status();
    (*q)->Bind(1, c.id);
    if (absl::Status s = Run(at, **q); !s.ok()) return s;
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
    bool exists = false;
    if (c.id > 0) {
      auto found = DepartmentExists(c.id);
      if (!found.ok()) return found.status();
      exists = *found;
    }
    if (c.parent_id) {
      if (*c.parent_id == c.id) {
        return absl::InvalidArgumentError(absl::StrCat(
            at, ".parent_id: a department cannot be its own parent"));
      }
      if (absl::Status s = DepartmentMustExist(at, "parent_id", *c.parent_id);
          !s.ok()) {
        return s;
      }
      if (exists) {
        // The new parent must not be below the department.
        std::optional<int64_t> at_id = c.parent_id;
        for (int steps = 0; at_id && steps < 100000; ++steps) {
          if (*at_id == c.id) {
            return absl::FailedPreconditionError(absl::StrCat(
                at, ".parent_id: department ", *c.parent_id,
                " is below department ", c.id, " (a department cycle)"));
          }
          auto up =
              Lookup("SELECT parent_id FROM departments WHERE id = ?", *at_id);
          if (!up.ok()) return up.status();
          at_id = up->value;
        }
      }
    }
    if (c.head_employee_id) {
      if (absl::Status s =
              EmployeeMustExist(at, "head_employee_id", *c.head_employee_id);
          !s.ok()) {
        return s;
      }
    }
    auto q = connection_.Prepare(
        exists ? "UPDATE departments SET name = ?2, parent_id = ?3, "
                 "head_employee_id = ?4 WHERE id = ?1"
               : "INSERT INTO departments (id, name, parent_id, "
                 "head_employee_id) VALUES (?1, ?2, ?3, ?4)");
    if (!q.ok()) return q.status();
    (*q)->Bind(1, c.id > 0 ? std::optional<int64_t>(c.id) : std::nullopt);
    (*q)->Bind(2, c.name);
    (*q)->Bind(3, c.parent_id);
    (*q)->Bind(4, c.head_employee_id);
    if (absl::Status s = Run(at, **q); !s.ok()) return s;
    if (exists) {
      ++summary_->departments_updated;
    } else {
      ++summary_->departments_added;
    }
    return absl::OkStatus();
  }

  absl::Status operator()(const std::string& at, const DeleteDepartment& c) {
    if (absl::Status s = DepartmentMustExist(at, "id", c.id); !s.ok()) {
      return s;
    }
    for (const char* sql :
         {"UPDATE employees SET department_id = NULL WHERE department_id = ?1",
          "UPDATE departments SET parent_id = (SELECT parent_id FROM "
          "departments WHERE id = ?1) WHERE parent_id = ?1",
          "DELETE FROM departments WHERE id = ?1"}) {
      auto q = connection_.Prepare(sql);
      if (!q.ok()) return q.status();
      (*q)->Bind(1, c.id);
      if (absl::Status s = Run(at, **q); !s.ok()) return s;
    }
    ++summary_->departments_deleted;
    return absl::OkStatus();
  }

 private:
  static constexpr char kSelectManager[] =
      "SELECT manager_id FROM employees WHERE id = ?";

  // The first row's first column of `sql` with `key` bound: whether there
  // is a row, and its value (nullopt for NULL).
  struct Found {
    bool found = false;
    std::optional<int64_t> value;
  };
  template <typename Key>
  absl::StatusOr<Found> Lookup(const char* sql, const Key& key) {
    auto q = connection_.Prepare(sql);
    if (!q.ok()) return q.status();
    (*q)->Bind(1, key);
    auto row = (*q)->Step();
    if (!row.ok()) return row.status();
    Found found;
    found.found = *row;
    if (*row) found.value = (*q)->OptionalInt64(0);
    (*q)->Reset();
    return found;
  }
  absl::StatusOr<bool> EmployeeExists(int64_t id) {
    auto found = Lookup("SELECT 1 FROM employees WHERE id = ?", id);
    if (!found.ok()) return found.status();
    return found->found;
  }
  absl::StatusOr<bool> DepartmentExists(int64_t id) {
    auto found = Lookup("SELECT 1 FROM departments WHERE id = ?", id);
    if (!found.ok()) return found.status();
    return found->found;
  }
  // NOT_FOUND ("AT.FIELD: no employee ID") unless the employee exists.
  absl::Status EmployeeMustExist(const std::string& at, const char* field,
                                 int64_t id) {
    auto found = EmployeeExists(id);
    if (!found.ok()) return found.status();
    if (*found) return absl::OkStatus();
    return absl::NotFoundError(
        absl::StrCat(at, ".", field, ": no employee ", id));
  }
  absl::Status DepartmentMustExist(const std::string& at, const char* field,
                                   int64_t id) {
    auto found = DepartmentExists(id);
    if (!found.ok()) return found.status();
    if (*found) return absl::OkStatus();
    return absl::NotFoundError(
        absl::StrCat(at, ".", field, ": no department ", id));
  }

  // FAILED_PRECONDITION when `manager` is in the subtree of `id`: the
  // subtree index makes it one comparison of paths.
  absl::Status CheckNoCycle(const std::string& at, int64_t id,
                            int64_t manager) {
    auto q = connection_.Prepare(
        "SELECT m.org_path >= e.org_path AND m.org_path < e.org_path || 'g' "
        "FROM employees e, employees m WHERE e.id = ? AND m.id = ?");
    if (!q.ok()) return q.status();
    (*q)->Bind(1, id);
    (*q)->Bind(2, manager);
    auto row = (*q)->Step();
    if (!row.ok()) return row.status();
    const bool below = *row && (*q)->Int64(0) != 0;
    (*q)->Reset();
    if (below) {
      return absl::FailedPreconditionError(absl::StrCat(
          at, ": a manager cycle: employee ", id, " cannot report to employee ",
          manager, ", who is in their subtree"));
    }
    return absl::OkStatus();
  }

  // Runs a write; the triggers' refusals and broken constraints become
  // the caller's errors.
  absl::Status Run(const std::string& at, store::Statement& q) {
    absl::Status s = q.Run();
    if (s.ok()) return s;
    const std::string what = store::SqliteMessage(s);
    if (absl::StrContains(what, "manager cycle")) {
      return absl::FailedPreconditionError(absl::StrCat(at, ": ", what));
    }
    if (absl::StrContains(what, "out of range") ||
        (store::SqliteCode(s) & 0xff) == SQLITE_CONSTRAINT) {
      return absl::InvalidArgumentError(absl::StrCat(at, ": ", what));
    }
    return absl::Status(s.code(), absl::StrCat(at, ": ", what));
  }

  // Statements are prepared once per connection and reused.
  store::Connection& connection_;
  store::Database& db_;
  WriteSummary* summary_;
};

constexpr const char* kChangeNames[] = {"upsert_employee", "move_employee",
                                        "delete_employee", "upsert_department",
                                        "delete_department"};

}  // namespace

absl::StatusOr<WriteSummary> ApplyChanges(
    store::Connection& connection, const std::vector<Change>& changes,
    bool validate_only,
    const std::function<absl::Status(store::Database&)>& precondition) {
  store::Database& db = connection.db();
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
  for (size_t i = 0; i < changes.size(); ++i) {
    const std::string at =
        absl::StrCat("changes[", i, "].", kChangeNames[changes[i].index()]);
    absl::Status s = std::visit(
        [&](const auto& change) { return apply(at, change); }, changes[i]);
    if (!s.ok()) return s;
  }
  if (validate_only) return summary;
  if (absl::Status s = (*txn)->Commit(); !s.ok()) return s;
  return summary;
}

}  // namespace pulse::write
