-- revision: 9b4e2d7c5a13
-- down_revision: 7d2e4b9c1f60
-- description: a token that changes whenever an existing subtree path may change
--
-- Readers may keep what they checked of the subtree index (an employee's
-- path against the managers above them) for as long as no existing path
-- changes. org_path_generation holds one random number, replaced by a new
-- one whenever a manager or a path changes (a move, and the moves a delete
-- or an out-of-order insert makes) or an employee is deleted. A new employee's
-- first path changes no existing one, so hires leave it alone. Writers
-- that bypass the triggers (the bulk import) replace it themselves.
-- +upgrade
CREATE TABLE org_path_generation (token INTEGER NOT NULL);
INSERT INTO org_path_generation (token) VALUES (random());

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
DROP TRIGGER org_path_generation_delete;
DROP TRIGGER org_path_generation_move;
DROP TABLE org_path_generation;
