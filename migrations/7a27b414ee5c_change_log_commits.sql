-- revision: 7a27b414ee5c
-- down_revision: 2f3de1905fff
-- description: which logged changes were committed together
--
-- SQLite gives a trigger no way to tell one transaction from the next, so
-- the log's triggers cannot say which commit a change belongs to. A writer
-- that knows says it here, with one row per transaction: the first and
-- last seq it logged. Every Pulse writer does (store::WriteTransaction:
-- ApplyChanges, Import, pulse-orgdata import and seed, the index repair).
-- Plain SQL may do the same before its COMMIT:
--
--   INSERT INTO change_log_commit (first_seq, last_seq)
--   SELECT <seq before the transaction> + 1, seq FROM sqlite_sequence
--   WHERE name = 'change_log' AND seq > <seq before the transaction>;
--
-- A change no row covers counts as a commit of its own. Pruning the log
-- prunes this table with it.
-- +upgrade
CREATE TABLE change_log_commit (
  first_seq INTEGER PRIMARY KEY,
  last_seq INTEGER NOT NULL,
  CHECK (last_seq >= first_seq)
);
-- +downgrade
DROP TABLE change_log_commit;
