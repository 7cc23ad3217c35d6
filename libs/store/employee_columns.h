#ifndef PULSE_LIBS_STORE_EMPLOYEE_COLUMNS_H_
#define PULSE_LIBS_STORE_EMPLOYEE_COLUMNS_H_

#include <array>
#include <cstddef>

namespace pulse::store {

// An employee's stored fields, the one list of them: each is a column of
// the employees table (the migrations' SQL creates it, and the covering
// index employees_org_path holds it), the field of the same name in
// pulse.orgdata.v1.Employee, and a column of the import/export files.
// Listed in the order the files write them and the readers select them;
// EmployeeFieldsTest checks the list against the proto and the schema at
// head.
struct EmployeeColumn {
  // employees.<column>, and Employee.<column>.
  const char* column;
  // The file's column: the department by name, the rest as stored.
  const char* file;
};
inline constexpr std::array<EmployeeColumn, 8> kEmployeeColumns = {{
    {"id", "id"},
    {"manager_id", "manager_id"},
    {"full_name", "full_name"},
    {"title", "title"},
    {"email", "email"},
    {"department_id", "department"},
    {"hire_date", "hire_date"},
    // Revision 6b1f0c2a9d41 added it: readers select it only when the
    // schema has it, always last.
    {"notes", "notes"},
}};

// Whether two C strings are equal, at compile time (for static_asserts on
// positions in kEmployeeColumns).
constexpr bool SameName(const char* a, const char* b) {
  for (; *a != '\0' && *a == *b; ++a, ++b) {
  }
  return *a == *b;
}

}  // namespace pulse::store

#endif  // PULSE_LIBS_STORE_EMPLOYEE_COLUMNS_H_
