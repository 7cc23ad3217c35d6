-- revision: 6b1f0c2a9d41
-- down_revision: a1c3f0d2b7e4
-- description: add notes to employees
-- +upgrade
ALTER TABLE employees ADD COLUMN notes TEXT;
-- +downgrade
ALTER TABLE employees DROP COLUMN notes;
