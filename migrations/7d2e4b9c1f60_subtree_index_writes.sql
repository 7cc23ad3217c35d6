-- revision: 7d2e4b9c1f60
-- down_revision: 3c9e1f7a2b50
-- description: subtree index kept right by every writer at O(log n) per row
--
-- Revision 3c9e1f7a2b50's insert trigger looked for reports inserted before
-- their manager with a scan of the whole table, so one plain INSERT cost
-- O(n); it accepted ids that do not fit a path component and cycles made in
-- one statement. These triggers replace it:
--
-- * ids must lie in 1..4294967295 (8 hex digits, the path component);
-- * a new employee's path extends their manager's; their direct reports
--   already present (found through employees_manager_id) whose paths are
--   not under it are moved under it, each subtree one range of the
--   employees_org_path index, so a report inserted before their manager
--   ends up in the right place whatever the order of the load;
-- * a report that is also above the new employee is a cycle, refused;
-- * a deleted employee's reports (left only where foreign keys are off)
--   become top-level paths, as reports inserted before their manager are.
--
-- RAISE takes only a literal, so refusals that must name ids are raised as
-- a JSON path error, whose message quotes the text given as the path.
-- +upgrade
DROP TRIGGER employees_org_path_insert;
DROP TRIGGER employees_org_path_move;

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

-- A change of manager moves the employee's whole subtree, refusing a move
-- under one of their own reports (a cycle).
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
-- +downgrade
DROP TRIGGER employees_org_path_delete;
DROP TRIGGER employees_org_path_move;
DROP TRIGGER employees_org_path_insert;

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
