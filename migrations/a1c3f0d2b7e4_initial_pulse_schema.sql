-- revision: a1c3f0d2b7e4
-- down_revision: none
-- description: initial Pulse schema: departments and employees
--
-- departments and employees reference each other (a department has a head
-- employee, an employee belongs to a department). SQLite accepts a
-- reference to a table created later, and the references are deferred so
-- rows of both tables can be inserted in one transaction in any order.
-- +upgrade
CREATE TABLE departments (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  parent_id INTEGER REFERENCES departments (id) DEFERRABLE INITIALLY DEFERRED,
  head_employee_id INTEGER REFERENCES employees (id) ON DELETE SET NULL
    DEFERRABLE INITIALLY DEFERRED,
  CHECK (parent_id IS NULL OR parent_id <> id)
);
CREATE TABLE employees (
  id INTEGER PRIMARY KEY,
  manager_id INTEGER REFERENCES employees (id) DEFERRABLE INITIALLY DEFERRED,
  department_id INTEGER REFERENCES departments (id)
    DEFERRABLE INITIALLY DEFERRED,
  full_name TEXT NOT NULL,
  title TEXT NOT NULL DEFAULT '',
  email TEXT NOT NULL UNIQUE,
  hire_date TEXT NOT NULL CHECK (date(hire_date) IS NOT NULL),
  CHECK (manager_id IS NULL OR manager_id <> id)
);
-- Subtree and chain reads walk manager_id; department views walk
-- department_id and the department tree.
CREATE INDEX employees_manager_id ON employees (manager_id);
CREATE INDEX employees_department_id ON employees (department_id);
CREATE INDEX departments_parent_id ON departments (parent_id);
CREATE INDEX departments_head_employee_id ON departments (head_employee_id);
-- +downgrade
UPDATE departments SET head_employee_id = NULL;
DROP TABLE employees;
DROP TABLE departments;
