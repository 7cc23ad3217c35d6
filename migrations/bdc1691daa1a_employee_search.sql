-- revision: bdc1691daa1a
-- down_revision: 7a27b414ee5c
-- description: a full-text index of names, emails and titles for search
--
-- employee_search is an FTS5 index over employees (external content: it
-- holds the index, not a copy of the text), kept in step by triggers for
-- every writer. Words of full_name and title are split as unicode61 does
-- (case and diacritics folded); '.' and '@' are part of a word, so that an
-- email is one word and a query matches it from its start. The prefix
-- index answers 3-letter prefixes, the shortest search targets, in rowid
-- order without merging every word they begin (a 2-letter index as well
-- would add a third to every bulk load's rebuild: docs/PERFORMANCE.md). employees_full_name finds the exact names that search ranks
-- first (and would otherwise be found among every match of their words).
-- Bulk writers that set the triggers aside (the seeder, a
-- reloading import) rebuild it after the load (store::RebuildSearchIndex).
-- +upgrade
CREATE VIRTUAL TABLE employee_search USING fts5(
  full_name, email, title,
  content = 'employees', content_rowid = 'id',
  tokenize = "unicode61 remove_diacritics 2 tokenchars '.@'",
  prefix = '3'
);
INSERT INTO employee_search (employee_search) VALUES ('rebuild');
CREATE INDEX employees_full_name ON employees (full_name COLLATE NOCASE);

CREATE TRIGGER employee_search_insert AFTER INSERT ON employees
BEGIN
  INSERT INTO employee_search (rowid, full_name, email, title)
  VALUES (NEW.id, NEW.full_name, NEW.email, NEW.title);
END;

CREATE TRIGGER employee_search_delete AFTER DELETE ON employees
BEGIN
  INSERT INTO employee_search (employee_search, rowid, full_name, email, title)
  VALUES ('delete', OLD.id, OLD.full_name, OLD.email, OLD.title);
END;

CREATE TRIGGER employee_search_update AFTER UPDATE OF id, full_name, email,
  title ON employees
WHEN NEW.id IS NOT OLD.id OR NEW.full_name IS NOT OLD.full_name
  OR NEW.email IS NOT OLD.email OR NEW.title IS NOT OLD.title
BEGIN
  INSERT INTO employee_search (employee_search, rowid, full_name, email, title)
  VALUES ('delete', OLD.id, OLD.full_name, OLD.email, OLD.title);
  INSERT INTO employee_search (rowid, full_name, email, title)
  VALUES (NEW.id, NEW.full_name, NEW.email, NEW.title);
END;
-- +downgrade
DROP TRIGGER employee_search_update;
DROP TRIGGER employee_search_delete;
DROP TRIGGER employee_search_insert;
DROP INDEX employees_full_name;
DROP TABLE employee_search;
