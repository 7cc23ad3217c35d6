#ifndef PULSE_LIBS_WRITE_CHANGES_H_
#define PULSE_LIBS_WRITE_CHANGES_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "libs/store/pool.h"
#include "libs/write/import.h"

namespace pulse::write {

// Inserts the employee, or updates every field of an existing one (moving
// them, with their subtree, when the manager changes).
struct UpsertEmployee {
  int64_t id = 0;
  std::optional<int64_t> manager_id;
  std::optional<int64_t> department_id;
  std::string full_name;
  std::string title;
  std::string email;
  std::string hire_date;
  std::optional<std::string> notes;
};
// Moves an employee and their subtree under another manager (none: to the
// top).
struct MoveEmployee {
  int64_t id = 0;
  std::optional<int64_t> new_manager_id;
};
// Deletes an employee; their reports move to `reassign_reports_to`, or to
// the deleted employee's own manager when unset (to the top when there is
// none).
struct DeleteEmployee {
  int64_t id = 0;
  std::optional<int64_t> reassign_reports_to;
};
// Inserts (id 0: a new id) or updates a department.
struct UpsertDepartment {
  int64_t id = 0;
  std::string name;
  std::optional<int64_t> parent_id;
  std::optional<int64_t> head_employee_id;
};
// Deletes a department: its members keep no department, its child
// departments move to its parent.
struct DeleteDepartment {
  int64_t id = 0;
};
using Change = std::variant<UpsertEmployee, MoveEmployee, DeleteEmployee,
                            UpsertDepartment, DeleteDepartment>;

// Applies `changes` in order in one write transaction on `connection`
// (whose statement cache keeps what it prepares), all or
// nothing; with `validate_only`, checks and counts them, then rolls back.
// `precondition` (may be empty) runs first inside the transaction (the
// revision gate). Errors name the change ("changes[3].upsert_employee.
// email: ..."): INVALID_ARGUMENT for a bad field, NOT_FOUND for an unknown
// employee or department, ALREADY_EXISTS for an email another employee
// has, FAILED_PRECONDITION for a cycle, UNAVAILABLE when the write lock
// cannot be had in time.
absl::StatusOr<WriteSummary> ApplyChanges(
    store::Connection& connection, const std::vector<Change>& changes,
    bool validate_only,
    const std::function<absl::Status(store::Database&)>& precondition);

}  // namespace pulse::write

#endif  // PULSE_LIBS_WRITE_CHANGES_H_
