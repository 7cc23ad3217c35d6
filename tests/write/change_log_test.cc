// The change log (revision 2f3de1905fff) is kept by triggers for every
// writer: a randomised run of plain-SQL writes, ApplyChanges and imports,
// after each of which replaying the log's new rows onto a copy gives the
// tables exactly (paths included).

#include "libs/store/change_log.h"

#include <sqlite3.h>

#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/migrate/migrator.h"
#include "libs/store/pool.h"
#include "libs/store/store.h"
#include "libs/write/changes.h"
#include "libs/write/import.h"
#include "tests/test_util/migrations.h"
#include "tests/test_util/status_matchers.h"
#include "tests/test_util/temp_dir.h"

namespace pulse::store {
namespace {

// An employee or department as the copy holds it, as one comparable line.
using Copy = std::map<std::pair<char, int64_t>, std::string>;

std::string OrNull(const std::optional<int64_t>& v) {
  return v.has_value() ? absl::StrCat(*v) : "NULL";
}
std::string OrNull(const std::optional<std::string>& v) {
  return v.value_or("NULL");
}

class ChangeLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    migrate::MigratorOptions options;
    options.db_path = path();
    auto m = migrate::Migrator::Create(testing::ProjectMigrations(), options);
    ASSERT_OK(m);
    ASSERT_OK((*m)->Upgrade("head"));
    auto db = Open(path(), OpenOptions());
    ASSERT_OK(db);
    db_ = *std::move(db);
    auto writer = Open(path(), OpenOptions());
    ASSERT_OK(writer);
    writer_ = std::make_unique<Connection>(*std::move(writer));
  }

  std::string path() const { return dir_.Join("pulse.db"); }

  // The tables as the copy should hold them.
  Copy Tables() {
    Copy out;
    auto q = db_->Prepare(
        "SELECT id, manager_id, full_name, title, email, department_id, "
        "hire_date, notes, org_path FROM employees");
    EXPECT_OK(q);
    EXPECT_OK(q->ForEachRow([&] {
      out[{'e', q->Int64(0)}] = absl::StrCat(
          OrNull(q->OptionalInt64(1)), "|", q->Text(2), "|", q->Text(3), "|",
          q->Text(4), "|", OrNull(q->OptionalInt64(5)), "|", q->Text(6), "|",
          OrNull(q->OptionalText(7)), "|", q->Text(8));
      return absl::OkStatus();
    }));
    auto d = db_->Prepare(
        "SELECT id, name, parent_id, head_employee_id FROM departments");
    EXPECT_OK(d);
    EXPECT_OK(d->ForEachRow([&] {
      out[{'d', d->Int64(0)}] =
          absl::StrCat(d->Text(1), "|", OrNull(d->OptionalInt64(2)), "|",
                       OrNull(d->OptionalInt64(3)));
      return absl::OkStatus();
    }));
    return out;
  }

  // Applies the log's rows after `seen_` to `copy_`.
  void Replay() {
    auto rows = ReadChanges(*db_, seen_, 1 << 20);
    ASSERT_OK(rows);
    for (const ChangeRow& c : *rows) {
      ASSERT_EQ(c.seq, seen_ + 1) << "a gap in the log";
      seen_ = c.seq;
      switch (c.kind) {
        case ChangeKind::kEmployeeAdded:
        case ChangeKind::kEmployeeUpdated:
        case ChangeKind::kEmployeeMoved:
          copy_[{'e', c.id}] =
              absl::StrCat(OrNull(c.manager_id), "|", c.full_name, "|", c.title,
                           "|", c.email, "|", OrNull(c.department_id), "|",
                           c.hire_date, "|", OrNull(c.notes), "|", c.org_path);
          if (c.kind == ChangeKind::kEmployeeMoved) {
            EXPECT_NE(c.old_org_path, c.org_path);
          }
          break;
        case ChangeKind::kEmployeeDeleted:
          EXPECT_EQ(copy_.erase({'e', c.id}), 1u) << c.id;
          break;
        case ChangeKind::kDepartmentAdded:
        case ChangeKind::kDepartmentUpdated:
          copy_[{'d', c.id}] = absl::StrCat(c.name, "|", OrNull(c.parent_id),
                                            "|", OrNull(c.head_employee_id));
          break;
        case ChangeKind::kDepartmentDeleted:
          EXPECT_EQ(copy_.erase({'d', c.id}), 1u) << c.id;
          break;
        case ChangeKind::kOrganisationReloaded: {
          // Read afresh: the employees now (later rows of the same write
          // apply on top, idempotently).
          const Copy now = Tables();
          for (auto it = copy_.begin(); it != copy_.end();) {
            it = it->first.first == 'e' ? copy_.erase(it) : std::next(it);
          }
          for (const auto& [key, value] : now) {
            if (key.first == 'e') copy_[key] = value;
          }
          ++reloads_;
          break;
        }
      }
    }
  }

  std::vector<int64_t> Ids() {
    std::vector<int64_t> ids;
    for (const auto& [key, value] : Tables()) {
      if (key.first == 'e') ids.push_back(key.second);
    }
    return ids;
  }

  std::string PathOf(int64_t id) {
    auto q = db_->Prepare("SELECT org_path FROM employees WHERE id = ?");
    EXPECT_OK(q);
    q->Bind(1, id);
    auto row = q->Step();
    return row.ok() && *row ? q->Text(0) : "";
  }

  testing::TempDir dir_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<Connection> writer_;
  Copy copy_;
  int64_t seen_ = 0;
  int reloads_ = 0;
};

TEST_F(ChangeLogTest, ReplayingTheLogGivesTheTablesAfterEveryWrite) {
  std::mt19937_64 rng(7);
  auto pick = [&](const std::vector<int64_t>& v) {
    return v[rng() % v.size()];
  };
  int64_t next_id = 1;
  auto employee = [&](int64_t id, std::optional<int64_t> manager) {
    return absl::StrCat(
        "INSERT INTO employees (id, manager_id, full_name, email, hire_date) "
        "VALUES (",
        id, ", ", OrNull(manager), ", 'P", id, "', 'p", id,
        "@example.com', '2024-01-01')");
  };
  ASSERT_OK(db_->Exec(employee(next_id++, std::nullopt)));
  ASSERT_OK(db_->Exec("INSERT INTO departments (id, name) VALUES (1, 'R&D')"));
  Replay();
  ASSERT_EQ(copy_, Tables());

  for (int round = 0; round < 300; ++round) {
    const std::vector<int64_t> ids = Ids();
    const int op = static_cast<int>(rng() % 9);
    if (op == 0) {
      // A report and then their manager, one transaction (out of order).
      const int64_t report = next_id++, manager = next_id++;
      ASSERT_OK(
          db_->Exec(absl::StrCat("BEGIN; ", employee(report, manager), "; ",
                                 employee(manager, pick(ids)), "; COMMIT")));
    } else if (op == 1) {
      ASSERT_OK(db_->Exec(employee(next_id++, pick(ids))));
    } else if (op == 2) {
      ASSERT_OK(db_->Exec(
          absl::StrCat("UPDATE employees SET title = 'T", round,
                       "', department_id = 1 WHERE id = ", pick(ids))));
    } else if (op == 3 && ids.size() > 2) {
      // A move under someone outside the mover's subtree.
      const int64_t who = pick(ids), to = pick(ids);
      if (who == 1 || absl::StartsWith(PathOf(to), PathOf(who))) continue;
      ASSERT_OK(db_->Exec(absl::StrCat("UPDATE employees SET manager_id = ", to,
                                       " WHERE id = ", who)));
    } else if (op == 4 && ids.size() > 2) {
      // A delete, the reports going to the deleted person's manager.
      const int64_t who = pick(ids);
      if (who == 1) continue;
      ASSERT_OK(db_->Exec(absl::StrCat(
          "BEGIN; UPDATE employees SET manager_id = (SELECT manager_id FROM "
          "employees WHERE id = ",
          who, ") WHERE manager_id = ", who,
          "; UPDATE departments SET head_employee_id = NULL WHERE "
          "head_employee_id = ",
          who, "; DELETE FROM employees WHERE id = ", who, "; COMMIT")));
    } else if (op == 5) {
      ASSERT_OK(db_->Exec(absl::StrCat(
          "INSERT INTO departments (name, parent_id, head_employee_id) "
          "VALUES ('D",
          round, "', 1, ", pick(ids), ")")));
    } else if (op == 6) {
      // ApplyChanges: an upsert, a move and a delete with reassignment.
      std::vector<write::Change> changes;
      write::UpsertEmployee hire;
      hire.id = next_id++;
      hire.manager_id = pick(ids);
      hire.full_name = absl::StrCat("A", hire.id);
      hire.email = absl::StrCat("a", hire.id, "@example.com");
      hire.hire_date = "2024-02-02";
      changes.push_back(hire);
      const int64_t who = pick(ids);
      if (who != 1 && ids.size() > 3) {
        changes.push_back(write::DeleteEmployee{who, std::nullopt});
      }
      auto applied = write::ApplyChanges(*writer_, changes, false, nullptr);
      // Deleting a department's head may be refused; that changes nothing.
      if (!applied.ok()) continue;
    } else if (op == 7 || op == 8) {
      // An import of a few rows: merge, or (now and then) replace.
      write::ImportOptions options;
      options.mode = (op == 8 && round % 4 == 0) ? write::ImportMode::kReplace
                                                 : write::ImportMode::kMerge;
      auto importer = write::Importer::Begin(writer_->db(), options);
      ASSERT_OK(importer);
      int line = 1;
      for (int64_t id : ids) {
        if (options.mode == write::ImportMode::kMerge && rng() % 3 != 0) {
          continue;
        }
        auto q = db_->Prepare(
            "SELECT manager_id, full_name, email, hire_date FROM employees "
            "WHERE id = ?");
        ASSERT_OK(q);
        q->Bind(1, id);
        ASSERT_OK(q->Step());
        write::EmployeeRow row;
        row.line = ++line;
        row.id = id;
        row.manager_id = q->OptionalInt64(0);
        row.full_name = q->Text(1);
        row.title = absl::StrCat("Imported ", round);
        row.email = q->Text(2);
        row.hire_date = q->Text(3);
        ASSERT_OK((*importer)->AddEmployee(row));
      }
      if (!(*importer)->Finish().ok()) continue;
    }
    Replay();
    ASSERT_EQ(copy_, Tables())
        << "after round " << round << " (op " << op << ")";
  }
  EXPECT_GT(reloads_, 0);
  EXPECT_GT(Ids().size(), 20u);
}

TEST_F(ChangeLogTest, TokensRoundTripAndPruningKeepsTheNewest) {
  for (int i = 1; i <= 10; ++i) {
    ASSERT_OK(db_->Exec(absl::StrCat(
        "INSERT INTO employees (id, full_name, email, hire_date) VALUES (", i,
        ", 'P', 'p", i, "@x', '2024-01-01')")));
  }
  auto state = ReadChangeLogState(*db_);
  ASSERT_OK(state);
  ASSERT_TRUE(state->has_value());
  EXPECT_EQ((*state)->last_seq, 10);
  const ChangeToken token{(*state)->epoch, 4};
  auto parsed = ParseToken(FormatToken(token));
  ASSERT_OK(parsed);
  EXPECT_EQ(parsed->epoch, token.epoch);
  EXPECT_EQ(parsed->seq, 4);
  EXPECT_EQ(ParseToken("nonsense").status().code(),
            absl::StatusCode::kInvalidArgument);

  auto pruned = PruneChangeLog(*db_, /*older_than_ms=*/0, /*keep_rows=*/3,
                               /*max_rows=*/100);
  ASSERT_OK(pruned);
  EXPECT_EQ(*pruned, 7);
  state = ReadChangeLogState(*db_);
  ASSERT_OK(state);
  EXPECT_EQ((*state)->pruned_through, 7);
  EXPECT_EQ((*state)->last_seq, 10);
  auto rows = ReadChanges(*db_, 0, 100);
  ASSERT_OK(rows);
  ASSERT_EQ(rows->size(), 3u);
  EXPECT_EQ(rows->front().seq, 8);

  ASSERT_OK(ReplaceChangeLogEpoch(*db_));
  state = ReadChangeLogState(*db_);
  ASSERT_OK(state);
  EXPECT_NE((*state)->epoch, token.epoch);
}

// The pages `db` has asked its cache for since the last call (hits and
// misses alike).
int PagesAskedFor(Database& db) {
  int total = 0;
  for (int what : {SQLITE_DBSTATUS_CACHE_HIT, SQLITE_DBSTATUS_CACHE_MISS}) {
    int current = 0, highest = 0;
    sqlite3_db_status(db.handle(), what, &current, &highest, /*reset=*/1);
    total += current;
  }
  return total;
}

// The service prunes every minute through its writer, whose cache keeps
// what it reads: pruning must find the rows past retention through the
// log's at_ms index, reading about as many pages as it deletes rows, not
// the whole log (it scanned all of it backwards for a row old enough). It
// deletes at most max_rows per call, the oldest first.
TEST_F(ChangeLogTest, PruningReadsOnlyWhatItPrunesAFewRowsAtATime) {
  ASSERT_OK(db_->Exec(
      "INSERT INTO change_log (at_ms, kind, id) "
      "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
      "WHERE i < 10) SELECT 1000 + i, 'employee_added', i FROM n"));
  ASSERT_OK(db_->Exec(
      "INSERT INTO change_log (kind, id, full_name, title, email) "
      "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
      "WHERE i < 50000) SELECT 'employee_added', 100 + i, "
      "'Someone With A Name ' || i, 'A Title', 'someone.' || i || "
      "'@example.com' FROM n"));
  const int64_t day_ago_ms = absl::ToUnixMillis(absl::Now() - absl::Hours(24));
  PagesAskedFor(*db_);
  int64_t through = 0;
  for (int64_t expected : {4, 4, 2, 0}) {
    auto pruned = PruneChangeLog(*db_, day_ago_ms, /*keep_rows=*/10000000,
                                 /*max_rows=*/4);
    ASSERT_OK(pruned);
    EXPECT_EQ(*pruned, expected);
    EXPECT_LT(PagesAskedFor(*db_), 100);
    through += expected;
    auto state = ReadChangeLogState(*db_);
    ASSERT_OK(state);
    EXPECT_EQ((*state)->pruned_through, through);
  }
  EXPECT_EQ(*db_->SelectInt("SELECT min(seq) FROM change_log"), 11);
}

// The commit of each row of the log after `after`, by seq.
std::map<int64_t, int64_t> Commits(Database& db, int64_t after = 0) {
  std::map<int64_t, int64_t> out;
  auto rows = ReadChanges(db, after, 1000);
  EXPECT_OK(rows);
  if (rows.ok()) {
    for (const ChangeRow& r : *rows) out[r.seq] = r.commit;
  }
  return out;
}

int64_t LastSeq(Database& db) {
  auto state = ReadChangeLogState(db);
  EXPECT_OK(state);
  return state.ok() && state->has_value() ? (*state)->last_seq : -1;
}

// Every change after `after` in one commit, and at least `at_least` of them.
void ExpectOneCommit(Database& db, int64_t after, size_t at_least) {
  const std::map<int64_t, int64_t> commits = Commits(db, after);
  EXPECT_GE(commits.size(), at_least);
  for (auto [seq, commit] : commits) EXPECT_EQ(commit, after + 1) << seq;
}

TEST_F(ChangeLogTest, EachWriteThroughPulseIsOneCommit) {
  // Plain SQL that does not record its transaction: a commit per change.
  ASSERT_OK(db_->Exec(
      "BEGIN;"
      "INSERT INTO employees (id, full_name, email, hire_date) VALUES "
      "(1, 'A', 'a@x', '2024-01-01');"
      "INSERT INTO employees (id, manager_id, full_name, email, hire_date) "
      "VALUES (2, 1, 'B', 'b@x', '2024-01-01');"
      "COMMIT"));
  EXPECT_EQ(Commits(*db_), (std::map<int64_t, int64_t>{{1, 1}, {2, 2}}));

  // ApplyChanges: two hires and a move.
  std::vector<write::Change> changes;
  for (int64_t id : {3, 4}) {
    write::UpsertEmployee hire;
    hire.id = id;
    hire.manager_id = 2;
    hire.full_name = absl::StrCat("E", id);
    hire.email = absl::StrCat("e", id, "@x");
    hire.hire_date = "2024-02-02";
    changes.push_back(hire);
  }
  changes.push_back(write::MoveEmployee{4, 1});
  ASSERT_OK(write::ApplyChanges(*writer_, changes, false, nullptr));
  ExpectOneCommit(*db_, 2, 3);

  // An import: a hire and a move.
  const int64_t before_import = LastSeq(*db_);
  write::ImportOptions options;
  auto importer = write::Importer::Begin(writer_->db(), options);
  ASSERT_OK(importer);
  write::EmployeeRow row;
  row.line = 2;
  row.id = 5;
  row.manager_id = 1;
  row.full_name = "F";
  row.email = "f@x";
  row.hire_date = "2024-03-03";
  ASSERT_OK((*importer)->AddEmployee(row));
  row.line = 3;
  row.id = 3;
  row.manager_id = 1;
  row.full_name = "E3";
  row.email = "e3@x";
  row.hire_date = "2024-02-02";
  ASSERT_OK((*importer)->AddEmployee(row));
  ASSERT_OK((*importer)->Finish());
  ExpectOneCommit(*db_, before_import, 2);

  // Plain SQL that records its transaction, as the migration shows.
  const int64_t before_sql = LastSeq(*db_);
  ASSERT_OK(db_->Exec(absl::StrCat(
      "BEGIN;"
      "UPDATE employees SET title = 'T' WHERE id IN (1, 2);"
      "INSERT INTO change_log_commit (first_seq, last_seq) SELECT ",
      before_sql, " + 1, seq FROM sqlite_sequence WHERE name = 'change_log' ",
      "AND seq > ", before_sql,
      ";"
      "COMMIT")));
  ExpectOneCommit(*db_, before_sql, 2);

  // Pruning forgets only commits whose every change is gone: ApplyChanges'
  // (3..5) stays while 5 does.
  ASSERT_OK(PruneChangeLog(*db_, 0, /*keep_rows=*/LastSeq(*db_) - 4,
                           /*max_rows=*/100));
  EXPECT_EQ(Commits(*db_).at(5), 3);
  EXPECT_EQ(*db_->SelectInt("SELECT min(first_seq) FROM change_log_commit"), 3);
  ASSERT_OK(PruneChangeLog(*db_, 0, /*keep_rows=*/LastSeq(*db_) - 5,
                           /*max_rows=*/100));
  EXPECT_EQ(*db_->SelectInt("SELECT min(first_seq) FROM change_log_commit"),
            before_import + 1);
}

TEST(PathHasAncestorTest, MatchesWholeComponentsOnly) {
  EXPECT_TRUE(PathHasAncestor("0000000100000002", 1));
  EXPECT_TRUE(PathHasAncestor("0000000100000002", 2));
  EXPECT_FALSE(PathHasAncestor("0000000100000002", 3));
  // "00000010" straddles two components of this path.
  EXPECT_FALSE(PathHasAncestor("0000000100000010", 0x10000000));
  EXPECT_FALSE(PathHasAncestor("", 1));
}

}  // namespace
}  // namespace pulse::store
