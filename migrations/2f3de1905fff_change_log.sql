-- revision: 2f3de1905fff
-- down_revision: d6838dd0e4dc
-- description: a change log kept by triggers, for the change feed
--
-- Every change to employees and departments, whoever writes it (the
-- org-data service, an import, plain SQL), gets a row in change_log in the
-- same transaction. seq orders them: a transaction's rows are contiguous
-- and a reader's snapshot holds whole transactions, so "the changes after
-- seq N" is exact. Each row holds the row after the change (its columns
-- in the order of libs/store/employee_columns.h), the employee's subtree
-- path after and before (so that a watcher of one subtree can tell
-- whether a change is inside it) and when it was made (Unix ms, for
-- retention).
--
-- A change of manager rewrites the path of each person in the moved
-- subtree (the triggers of 7d2e4b9c1f60); each such rewrite is logged as
-- employee_moved with both paths (the moved person's old manager is the
-- last id but one of the old path). The update of the manager itself is
-- not logged separately: the rewrite of that person's own path carries
-- the same row. The path a new row is given by the insert trigger is part
-- of its employee_added, not a change of its own.
--
-- Bulk writers that set the triggers aside (the seeder, an import that
-- reloads the table) log one organisation_reloaded instead.
--
-- change_log_state holds the log's epoch (a random number that tokens
-- carry, replaced when a backup is restored, so tokens from before do not
-- resume into a different history) and the last seq pruned by retention.
-- +upgrade
CREATE TABLE change_log (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  at_ms INTEGER NOT NULL
    DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)),
  kind TEXT NOT NULL CHECK (kind IN ('employee_added', 'employee_updated',
    'employee_moved', 'employee_deleted', 'department_added',
    'department_updated', 'department_deleted', 'organisation_reloaded')),
  id INTEGER NOT NULL,
  org_path TEXT,
  old_org_path TEXT,
  manager_id INTEGER,
  full_name TEXT,
  title TEXT,
  email TEXT,
  department_id INTEGER,
  hire_date TEXT,
  notes TEXT,
  name TEXT,
  parent_id INTEGER,
  head_employee_id INTEGER
);
CREATE INDEX change_log_at_ms ON change_log (at_ms);

CREATE TABLE change_log_state (
  epoch INTEGER NOT NULL,
  pruned_through INTEGER NOT NULL
);
INSERT INTO change_log_state (epoch, pruned_through) VALUES (random(), 0);

CREATE TRIGGER change_log_employee_insert AFTER INSERT ON employees
BEGIN
  INSERT INTO change_log (kind, id, org_path, manager_id, full_name, title,
    email, department_id, hire_date, notes)
  VALUES ('employee_added', NEW.id, coalesce(NEW.org_path, coalesce(
      (SELECT m.org_path FROM employees m WHERE m.id = NEW.manager_id), '')
      || printf('%08x', NEW.id)),
    NEW.manager_id, NEW.full_name, NEW.title, NEW.email, NEW.department_id,
    NEW.hire_date, NEW.notes);
END;

CREATE TRIGGER change_log_employee_update AFTER UPDATE ON employees
WHEN NEW.manager_id IS OLD.manager_id AND OLD.org_path IS NOT NULL AND (
  NEW.org_path IS NOT OLD.org_path OR NEW.full_name IS NOT OLD.full_name
  OR NEW.title IS NOT OLD.title OR NEW.email IS NOT OLD.email
  OR NEW.department_id IS NOT OLD.department_id
  OR NEW.hire_date IS NOT OLD.hire_date OR NEW.notes IS NOT OLD.notes)
BEGIN
  INSERT INTO change_log (kind, id, org_path, old_org_path, manager_id,
    full_name, title, email, department_id, hire_date, notes)
  VALUES (CASE WHEN NEW.org_path IS NOT OLD.org_path THEN 'employee_moved'
               ELSE 'employee_updated' END,
    NEW.id, NEW.org_path, OLD.org_path, NEW.manager_id, NEW.full_name,
    NEW.title, NEW.email, NEW.department_id, NEW.hire_date, NEW.notes);
END;

CREATE TRIGGER change_log_employee_delete AFTER DELETE ON employees
BEGIN
  INSERT INTO change_log (kind, id, old_org_path, manager_id)
  VALUES ('employee_deleted', OLD.id, OLD.org_path, OLD.manager_id);
END;

CREATE TRIGGER change_log_department_insert AFTER INSERT ON departments
BEGIN
  INSERT INTO change_log (kind, id, name, parent_id, head_employee_id)
  VALUES ('department_added', NEW.id, NEW.name, NEW.parent_id,
    NEW.head_employee_id);
END;

CREATE TRIGGER change_log_department_update AFTER UPDATE ON departments
WHEN NEW.name IS NOT OLD.name OR NEW.parent_id IS NOT OLD.parent_id
  OR NEW.head_employee_id IS NOT OLD.head_employee_id
BEGIN
  INSERT INTO change_log (kind, id, name, parent_id, head_employee_id)
  VALUES ('department_updated', NEW.id, NEW.name, NEW.parent_id,
    NEW.head_employee_id);
END;

CREATE TRIGGER change_log_department_delete AFTER DELETE ON departments
BEGIN
  INSERT INTO change_log (kind, id) VALUES ('department_deleted', OLD.id);
END;
-- +downgrade
DROP TRIGGER change_log_department_delete;
DROP TRIGGER change_log_department_update;
DROP TRIGGER change_log_department_insert;
DROP TRIGGER change_log_employee_delete;
DROP TRIGGER change_log_employee_update;
DROP TRIGGER change_log_employee_insert;
DROP TABLE change_log_state;
DROP TABLE change_log;
