-- revision: 4e3f0af3f53d
-- down_revision: bdc1691daa1a
-- description: the search index keeps a 3-letter prefix index only
--
-- bdc1691daa1a makes the index with prefix = '3'. For one landing
-- (2026-12-02, 07:12-10:10 UTC) that script was edited to prefix = '2 3',
-- so databases migrated then hold a 2- and 3-letter index, which adds
-- about a third to every rebuild and which search does not use
-- (docs/PERFORMANCE.md). The index is made again with prefix = '3', as
-- bdc1691daa1a makes it; the triggers of bdc1691daa1a keep it as before
-- (they name the table, not its options). The rebuild merges once at the
-- end, as bulk loads do (store::RefreshAfterBulkLoad), then FTS5's usual
-- merge settings return. The downgrade has nothing to undo: the index is
-- then the one bdc1691daa1a makes.
-- +upgrade
DROP TABLE employee_search;
CREATE VIRTUAL TABLE employee_search USING fts5(
  full_name, email, title,
  content = 'employees', content_rowid = 'id',
  tokenize = "unicode61 remove_diacritics 2 tokenchars '.@'",
  prefix = '3'
);
INSERT INTO employee_search (employee_search, rank) VALUES ('automerge', 0);
INSERT INTO employee_search (employee_search, rank) VALUES ('crisismerge', 1999);
INSERT INTO employee_search (employee_search) VALUES ('rebuild');
INSERT INTO employee_search (employee_search) VALUES ('optimize');
INSERT INTO employee_search (employee_search, rank) VALUES ('automerge', 4);
INSERT INTO employee_search (employee_search, rank) VALUES ('crisismerge', 16);
-- +downgrade
