-- revision: 3c9e1f7a2b50
-- down_revision: 6b1f0c2a9d41
-- description: subtree index: materialised pre-order path on employees
--
-- org_path is the chain of ids from the top of the organisation down to the
-- employee, each as 8 lower-case hex digits. Sorting by it is a depth-first
-- pre-order with siblings by ascending id, and a subtree is one range
-- [path, path || 'g'), so with the covering index below a whole subtree is
-- one sequential index scan instead of a recursive walk. Triggers keep it
-- right on insert and on a change of manager; a delete needs nothing (a
-- manager's reports must be moved first, by the foreign key).
-- +upgrade
ALTER TABLE employees ADD COLUMN org_path TEXT;

WITH RECURSIVE walk(id, org_path) AS (
  SELECT id, printf('%08x', id) FROM employees WHERE manager_id IS NULL
  UNION ALL
  SELECT e.id, walk.org_path || printf('%08x', e.id)
  FROM employees e JOIN walk ON e.manager_id = walk.id
  WHERE length(walk.org_path) < 8 * 4096
)
UPDATE employees SET org_path = walk.org_path FROM walk
WHERE walk.id = employees.id;

-- Everything a subtree stream returns, so it never touches the table.
CREATE INDEX employees_org_path ON employees (
  org_path, id, manager_id, full_name, title, email, department_id,
  hire_date, notes);

-- A new employee's path extends their manager's (an inserter that supplies
-- the right path, like the seeder, costs one lookup and no rewrite). Reports
-- inserted before their manager (an out-of-order bulk load) start as
-- top-level paths; when the manager arrives their subtrees move under it.
-- One trigger, so the two steps run in this order.
CREATE TRIGGER employees_org_path_insert AFTER INSERT ON employees
BEGIN
  UPDATE employees SET org_path = coalesce(
    (SELECT m.org_path FROM employees m WHERE m.id = NEW.manager_id), '')
    || printf('%08x', NEW.id)
  WHERE id = NEW.id AND org_path IS NOT coalesce(
    (SELECT m.org_path FROM employees m WHERE m.id = NEW.manager_id), '')
    || printf('%08x', NEW.id);
  UPDATE employees
  SET org_path = (SELECT m.org_path FROM employees m WHERE m.id = NEW.id)
                 || org_path
  WHERE EXISTS (SELECT 1 FROM employees c
                WHERE c.manager_id = NEW.id AND c.id <> NEW.id
                  AND length(c.org_path) = 8)
    AND substr(org_path, 1, 8) IN (
      SELECT c.org_path FROM employees c
      WHERE c.manager_id = NEW.id AND c.id <> NEW.id
        AND length(c.org_path) = 8);
END;

-- A change of manager moves the employee's whole subtree, refusing a move
-- under one of their own reports (a cycle).
CREATE TRIGGER employees_org_path_move AFTER UPDATE OF manager_id ON employees
WHEN NEW.manager_id IS NOT OLD.manager_id
BEGIN
  SELECT RAISE(ABORT, 'a manager cannot report to someone in their own subtree')
  WHERE (SELECT m.org_path FROM employees m WHERE m.id = NEW.manager_id)
        >= OLD.org_path
    AND (SELECT m.org_path FROM employees m WHERE m.id = NEW.manager_id)
        < OLD.org_path || 'g';
  UPDATE employees
  SET org_path = coalesce(
        (SELECT m.org_path FROM employees m WHERE m.id = NEW.manager_id), '')
      || printf('%08x', NEW.id) || substr(org_path, length(OLD.org_path) + 1)
  WHERE org_path >= OLD.org_path AND org_path < OLD.org_path || 'g';
END;

-- Ids are path components: they do not change.
CREATE TRIGGER employees_id_immutable BEFORE UPDATE OF id ON employees
WHEN NEW.id IS NOT OLD.id
BEGIN
  SELECT RAISE(ABORT, 'employee ids cannot change');
END;
-- +downgrade
DROP TRIGGER employees_id_immutable;
DROP TRIGGER employees_org_path_move;
DROP TRIGGER employees_org_path_insert;
DROP INDEX employees_org_path;
ALTER TABLE employees DROP COLUMN org_path;
