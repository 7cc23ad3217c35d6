-- revision: d6838dd0e4dc
-- down_revision: 9b4e2d7c5a13
-- description: employees rebuilt with a CHECK that each id fits the subtree index
-- foreign_keys: off
-- nolint: check_added
--
-- An id is a path component of 8 hex digits, so it must lie in
-- 1..4294967295. The insert trigger of 7d2e4b9c1f60 refuses other ids, but
-- a writer that suspends the triggers (the bulk import) relies on its own
-- check; the table now holds the rule itself. No existing row can break
-- it (the triggers and the import refused such ids), which is why lint's
-- check_added rule, for a CHECK that existing rows might fail, is waived.
--
-- SQLite cannot add a CHECK to a table, so this is the standard rebuild
-- (sqlite.org/lang_altertable.html, "other kinds of table schema
-- changes"): create the new table, copy, drop the old one, rename, then
-- recreate the indexes and triggers that went with the old table, exactly
-- as their revisions wrote them. Foreign keys are off for the script (the
-- header above) so that dropping employees does not set the departments'
-- heads to NULL; the migrator runs PRAGMA foreign_key_check before commit.
-- +upgrade
CREATE TABLE employees_rebuilt (
  id INTEGER PRIMARY KEY,
  manager_id INTEGER REFERENCES employees (id) DEFERRABLE INITIALLY DEFERRED,
  department_id INTEGER REFERENCES departments (id)
    DEFERRABLE INITIALLY DEFERRED,
  full_name TEXT NOT NULL,
  title TEXT NOT NULL DEFAULT '',
  email TEXT NOT NULL UNIQUE,
  hire_date TEXT NOT NULL CHECK (date(hire_date) IS NOT NULL),
  notes TEXT,
  org_path TEXT,
  CHECK (manager_id IS NULL OR manager_id <> id),
  CONSTRAINT employee_id_out_of_range_1_to_4294967295
    CHECK (id BETWEEN 1 AND 4294967295)
);
INSERT INTO employees_rebuilt (id, manager_id, department_id, full_name,
  title, email, hire_date, notes, org_path)
SELECT id, manager_id, department_id, full_name, title, email, hire_date,
  notes, org_path FROM employees;
DROP TABLE employees;
ALTER TABLE employees_rebuilt RENAME TO employees;

CREATE INDEX employees_manager_id ON employees (manager_id);
CREATE INDEX employees_department_id ON employees (department_id);
CREATE INDEX employees_org_path ON employees (
  org_path, id, manager_id, full_name, title, email, department_id,
  hire_date, notes);
CREATE TRIGGER employees_id_immutable BEFORE UPDATE OF id ON employees
WHEN NEW.id IS NOT OLD.id
BEGIN
  SELECT RAISE(ABORT, 'employee ids cannot change');
END;
CREATE TRIGGER employees_org_path_insert AFTER INSERT ON employees
BEGIN
  SELECT json_extract('{}', printf(
    'employee id %s is out of range: ids must be between 1 and 4294967295',
    NEW.id))
  WHERE NEW.id NOT BETWEEN 1 AND 4294967295;
  UPDATE employees SET org_path = coalesce(
    (SELECT m.org_path FROM employees m WHERE m.id = NEW.manager_id), '')
    || printf('%08x', NEW.id)
  WHERE id = NEW.id AND org_path IS NOT coalesce(
    (SELECT m.org_path FROM employees m WHERE m.id = NEW.manager_id), '')
    || printf('%08x', NEW.id);
  SELECT json_extract('{}', printf(
    'a manager cycle: employee %d reports to employee %d, who is above them',
    c.id, NEW.id))
  FROM employees n, employees c
  WHERE n.id = NEW.id AND c.manager_id = NEW.id
    AND n.org_path >= c.org_path AND n.org_path < c.org_path || 'g';
  UPDATE employees
  SET org_path = n.org_path
      || substr(employees.org_path, length(c.org_path) - 7)
  FROM employees n, employees c
  WHERE n.id = NEW.id AND c.manager_id = NEW.id
    AND c.org_path IS NOT n.org_path || printf('%08x', c.id)
    AND employees.org_path >= c.org_path
    AND employees.org_path < c.org_path || 'g';
END;
CREATE TRIGGER employees_org_path_move AFTER UPDATE OF manager_id ON employees
WHEN NEW.manager_id IS NOT OLD.manager_id
BEGIN
  SELECT json_extract('{}', printf(
    'a manager cycle: employee %d cannot report to employee %d, who is in their subtree',
    NEW.id, NEW.manager_id))
  FROM employees m
  WHERE m.id = NEW.manager_id
    AND m.org_path >= OLD.org_path AND m.org_path < OLD.org_path || 'g';
  UPDATE employees
  SET org_path = coalesce(
        (SELECT m.org_path FROM employees m WHERE m.id = NEW.manager_id), '')
      || printf('%08x', NEW.id) || substr(org_path, length(OLD.org_path) + 1)
  WHERE org_path >= OLD.org_path AND org_path < OLD.org_path || 'g';
END;
CREATE TRIGGER employees_org_path_delete AFTER DELETE ON employees
BEGIN
  UPDATE employees SET org_path = substr(org_path, length(OLD.org_path) + 1)
  WHERE org_path > OLD.org_path AND org_path < OLD.org_path || 'g';
END;
CREATE TRIGGER org_path_generation_move
AFTER UPDATE OF manager_id, org_path ON employees
WHEN NEW.manager_id IS NOT OLD.manager_id
  OR (OLD.org_path IS NOT NULL AND NEW.org_path IS NOT OLD.org_path)
BEGIN
  UPDATE org_path_generation SET token = random();
END;
CREATE TRIGGER org_path_generation_delete AFTER DELETE ON employees
BEGIN
  UPDATE org_path_generation SET token = random();
END;
-- +downgrade
CREATE TABLE employees_rebuilt (
  id INTEGER PRIMARY KEY,
  manager_id INTEGER REFERENCES employees (id) DEFERRABLE INITIALLY DEFERRED,
  department_id INTEGER REFERENCES departments (id)
    DEFERRABLE INITIALLY DEFERRED,
  full_name TEXT NOT NULL,
  title TEXT NOT NULL DEFAULT '',
  email TEXT NOT NULL UNIQUE,
  hire_date TEXT NOT NULL CHECK (date(hire_date) IS NOT NULL), notes TEXT, org_path TEXT,
  CHECK (manager_id IS NULL OR manager_id <> id)
);
INSERT INTO employees_rebuilt (id, manager_id, department_id, full_name,
  title, email, hire_date, notes, org_path)
SELECT id, manager_id, department_id, full_name, title, email, hire_date,
  notes, org_path FROM employees;
DROP TABLE employees;
ALTER TABLE employees_rebuilt RENAME TO employees;

CREATE INDEX employees_manager_id ON employees (manager_id);
CREATE INDEX employees_department_id ON employees (department_id);
CREATE INDEX employees_org_path ON employees (
  org_path, id, manager_id, full_name, title, email, department_id,
  hire_date, notes);
CREATE TRIGGER employees_id_immutable BEFORE UPDATE OF id ON employees
WHEN NEW.id IS NOT OLD.id
BEGIN
  SELECT RAISE(ABORT, 'employee ids cannot change');
END;
CREATE TRIGGER employees_org_path_insert AFTER INSERT ON employees
BEGIN
  SELECT json_extract('{}', printf(
    'employee id %s is out of range: ids must be between 1 and 4294967295',
    NEW.id))
  WHERE NEW.id NOT BETWEEN 1 AND 4294967295;
  UPDATE employees SET org_path = coalesce(
    (SELECT m.org_path FROM employees m WHERE m.id = NEW.manager_id), '')
    || printf('%08x', NEW.id)
  WHERE id = NEW.id AND org_path IS NOT coalesce(
    (SELECT m.org_path FROM employees m WHERE m.id = NEW.manager_id), '')
    || printf('%08x', NEW.id);
  SELECT json_extract('{}', printf(
    'a manager cycle: employee %d reports to employee %d, who is above them',
    c.id, NEW.id))
  FROM employees n, employees c
  WHERE n.id = NEW.id AND c.manager_id = NEW.id
    AND n.org_path >= c.org_path AND n.org_path < c.org_path || 'g';
  UPDATE employees
  SET org_path = n.org_path
      || substr(employees.org_path, length(c.org_path) - 7)
  FROM employees n, employees c
  WHERE n.id = NEW.id AND c.manager_id = NEW.id
    AND c.org_path IS NOT n.org_path || printf('%08x', c.id)
    AND employees.org_path >= c.org_path
    AND employees.org_path < c.org_path || 'g';
END;
CREATE TRIGGER employees_org_path_move AFTER UPDATE OF manager_id ON employees
WHEN NEW.manager_id IS NOT OLD.manager_id
BEGIN
  SELECT json_extract('{}', printf(
    'a manager cycle: employee %d cannot report to employee %d, who is in their subtree',
    NEW.id, NEW.manager_id))
  FROM employees m
  WHERE m.id = NEW.manager_id
    AND m.org_path >= OLD.org_path AND m.org_path < OLD.org_path || 'g';
  UPDATE employees
  SET org_path = coalesce(
        (SELECT m.org_path FROM employees m WHERE m.id = NEW.manager_id), '')
      || printf('%08x', NEW.id) || substr(org_path, length(OLD.org_path) + 1)
  WHERE org_path >= OLD.org_path AND org_path < OLD.org_path || 'g';
END;
CREATE TRIGGER employees_org_path_delete AFTER DELETE ON employees
BEGIN
  UPDATE employees SET org_path = substr(org_path, length(OLD.org_path) + 1)
  WHERE org_path > OLD.org_path AND org_path < OLD.org_path || 'g';
END;
CREATE TRIGGER org_path_generation_move
AFTER UPDATE OF manager_id, org_path ON employees
WHEN NEW.manager_id IS NOT OLD.manager_id
  OR (OLD.org_path IS NOT NULL AND NEW.org_path IS NOT OLD.org_path)
BEGIN
  UPDATE org_path_generation SET token = random();
END;
CREATE TRIGGER org_path_generation_delete AFTER DELETE ON employees
BEGIN
  UPDATE org_path_generation SET token = random();
END;
