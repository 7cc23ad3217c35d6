#include "libs/migrate/migrator.h"

#include <filesystem>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/migrate/authoring.h"
#include "libs/migrate/file_lock.h"
#include "libs/store/store.h"
#include "tests/test_util/migrations.h"
#include "tests/test_util/status_matchers.h"
#include "tests/test_util/temp_dir.h"

namespace pulse::migrate {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

// Runs that may drop data (the tests downgrade populated databases).
migrate::RunOptions AllowDataLoss() {
  migrate::RunOptions run;
  run.allow_data_loss = true;
  return run;
}

class MigratorTest : public ::testing::Test {
 protected:
  void SetUp() override { std::filesystem::create_directory(scripts_dir()); }

  std::string db_path() const { return dir_.Join("pulse.db"); }
  std::string scripts_dir() const { return dir_.Join("migrations"); }

  std::unique_ptr<Migrator> Make(
      const std::string& migrations_dir,
      absl::Duration lock_timeout = absl::Seconds(5)) {
    MigratorOptions options;
    options.db_path = db_path();
    options.lock_timeout = lock_timeout;
    auto m = Migrator::Create(migrations_dir, options);
    EXPECT_OK(m);
    return m.ok() ? *std::move(m) : nullptr;
  }

  std::unique_ptr<store::Database> Db() {
    auto db = store::Open(db_path(), store::OpenOptions());
    EXPECT_OK(db);
    return *std::move(db);
  }

  int64_t Count(const std::string& sql) {
    auto n = Db()->SelectInt(sql);
    EXPECT_OK(n);
    return n.value_or(-1);
  }

  bool HasTable(const std::string& name) {
    auto db = Db();
    return *store::TableExists(*db, name);
  }

  std::vector<std::string> Current(Migrator& m) {
    auto state = m.GetState();
    EXPECT_OK(state);
    return state.ok() ? state->current : std::vector<std::string>{};
  }

  testing::TempDir dir_;
};

TEST_F(MigratorTest, UpgradeAndDowngradeThroughEveryRevisionKeepRows) {
  auto m = Make(testing::ProjectMigrations());
  ASSERT_NE(m, nullptr);
  const std::vector<std::string> order = m->graph().topological_order();
  ASSERT_GE(order.size(), 3u);

  ASSERT_OK(m->Upgrade("+1"));
  EXPECT_THAT(Current(*m), ElementsAre(order[0]));
  {
    // The circular department/employee references accept rows inserted in
    // one transaction in either order.
    auto db = Db();
    auto txn = store::WriteTransaction::Begin(*db);
    ASSERT_OK(txn);
    ASSERT_OK(db->Exec(
        "INSERT INTO departments (id, name, parent_id, head_employee_id) "
        "VALUES (1, 'Company', NULL, 1), (2, 'Engineering', 1, 2);"
        "INSERT INTO employees (id, manager_id, department_id, full_name, "
        "title, email, hire_date) VALUES "
        "(1, NULL, 1, 'Ada Chief', 'CEO', 'ada@example.com', '2020-01-01'),"
        "(2, 1, 2, 'Bo Lead', 'VP Eng', 'bo@example.com', '2021-02-03'),"
        "(3, 2, 2, 'Cy Dev', 'Engineer', 'cy@example.com', '2022-03-04');"));
    ASSERT_OK((*txn)->Commit());
  }
  // Up one revision at a time, then down again: the rows survive each step.
  for (size_t i = 1; i < order.size(); ++i) {
    ASSERT_OK(m->Upgrade("+1"));
    EXPECT_THAT(Current(*m), ElementsAre(order[i]));
    EXPECT_EQ(Count("SELECT count(*) FROM employees"), 3);
    EXPECT_EQ(Count("SELECT count(*) FROM departments WHERE head_employee_id "
                    "IS NOT NULL"),
              2);
  }
  // The subtree index was filled in for rows that predate it.
  EXPECT_EQ(Count("SELECT count(*) FROM employees WHERE org_path = "
                  "'000000010000000200000003'"),
            1);
  ASSERT_OK(Db()->Exec("UPDATE employees SET notes = 'hello' WHERE id = 3"));
  for (size_t i = order.size() - 1; i > 0; --i) {
    ASSERT_OK(m->Downgrade("-1", AllowDataLoss()));
    EXPECT_THAT(Current(*m), ElementsAre(order[i - 1]));
    EXPECT_EQ(Count("SELECT count(*) FROM employees"), 3);
  }
  EXPECT_EQ(Count("SELECT count(*) FROM pragma_table_info('employees') "
                  "WHERE name IN ('notes', 'org_path')"),
            0);

  ASSERT_OK(m->Upgrade("head"));
  EXPECT_THAT(Current(*m), ElementsAre(order.back()));
  EXPECT_EQ(Count("SELECT count(*) FROM employees"), 3);
  auto problems = m->Validate();
  ASSERT_OK(problems);
  EXPECT_THAT(*problems, IsEmpty());

  ASSERT_OK(m->Downgrade("base", AllowDataLoss()));
  EXPECT_THAT(Current(*m), IsEmpty());
  EXPECT_FALSE(HasTable("employees"));
  EXPECT_FALSE(HasTable("departments"));
  EXPECT_EQ(Count("SELECT count(*) FROM sqlite_schema WHERE name LIKE "
                  "'employees%'"),
            0);
  auto history = m->History(1000);
  ASSERT_OK(history);
  // 1 + (n-1) up, (n-1) down, (n-1) up to head, n down to base.
  EXPECT_EQ(history->size(), 4 * order.size() - 2);
  EXPECT_EQ((*history)[0].direction, "downgrade");
  EXPECT_EQ((*history)[0].revision, order[0]);
}

TEST_F(MigratorTest, FailingMigrationHalfwayLeavesRevisionAndData) {
  testing::AddScript(scripts_dir(), "r1", "none",
                     "CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1);",
                     "DROP TABLE t;");
  testing::AddScript(scripts_dir(), "r2", "r1",
                     "CREATE TABLE u (y INTEGER);\n"
                     "INSERT INTO t VALUES (2);\n"
                     "INSERT INTO missing_table VALUES (3);",
                     "DROP TABLE u;");
  auto m = Make(scripts_dir());
  ASSERT_OK(m->Upgrade("r1"));

  auto result = m->Upgrade("head");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(result.status().message(), HasSubstr("r2.sql"));
  EXPECT_THAT(result.status().message(), HasSubstr("missing_table"));
  EXPECT_THAT(result.status().message(), HasSubstr("statement 3"));

  EXPECT_THAT(Current(*m), ElementsAre("r1"));
  EXPECT_FALSE(HasTable("u"));
  EXPECT_EQ(Count("SELECT count(*) FROM t"), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM pulse_migration_history"), 1);
  auto state = m->GetState();
  ASSERT_OK(state);
  EXPECT_FALSE(state->migration_in_progress);
}

TEST_F(MigratorTest, BranchesNeedHeadsOrMergeAndApplyOnce) {
  testing::AddScript(scripts_dir(), "a", "none", "CREATE TABLE a (x);",
                     "DROP TABLE a;");
  testing::AddScript(scripts_dir(), "b1", "a", "CREATE TABLE b1 (x);",
                     "DROP TABLE b1;");
  testing::AddScript(scripts_dir(), "b2", "a", "CREATE TABLE b2 (x);",
                     "DROP TABLE b2;");
  auto m = Make(scripts_dir());
  auto head = m->Upgrade("head");
  EXPECT_EQ(head.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(head.status().message(), HasSubstr("2 heads"));

  ASSERT_OK(m->Upgrade("b1"));
  EXPECT_THAT(Current(*m), ElementsAre("b1"));
  ASSERT_OK(m->Upgrade("heads"));
  EXPECT_THAT(Current(*m), ElementsAre("b1", "b2"));
  // Downgrading to b1 keeps exactly b1 and its ancestors.
  ASSERT_OK(m->Downgrade("b1"));
  EXPECT_THAT(Current(*m), ElementsAre("b1"));
  EXPECT_FALSE(HasTable("b2"));

  auto merge = WriteMergeRevision(scripts_dir(), m->graph(), "join branches");
  ASSERT_OK(merge);
  auto merged = Make(scripts_dir());
  ASSERT_EQ(merged->graph().heads().size(), 1u);
  ASSERT_OK(merged->Upgrade("head"));
  EXPECT_THAT(Current(*merged), ElementsAre(merged->graph().heads()[0]));
  EXPECT_TRUE(HasTable("b2"));
  EXPECT_EQ(Count("SELECT count(*) FROM pulse_migration_history "
                  "WHERE revision = 'b1' AND direction = 'upgrade'"),
            1);
}

TEST_F(MigratorTest, RelativeAndPrefixTargets) {
  testing::AddScript(scripts_dir(), "aa11", "none", "CREATE TABLE t1 (x);",
                     "DROP TABLE t1;");
  testing::AddScript(scripts_dir(), "bb22", "aa11", "CREATE TABLE t2 (x);",
                     "DROP TABLE t2;");
  testing::AddScript(scripts_dir(), "cc33", "bb22", "CREATE TABLE t3 (x);",
                     "DROP TABLE t3;");
  auto m = Make(scripts_dir());
  ASSERT_OK(m->Upgrade("+2"));
  EXPECT_THAT(Current(*m), ElementsAre("bb22"));
  EXPECT_EQ(m->Upgrade("+2").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(m->Upgrade("-1").status().code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_OK(m->Upgrade("cc"));
  EXPECT_THAT(Current(*m), ElementsAre("cc33"));
  ASSERT_OK(m->Downgrade("-2"));
  EXPECT_THAT(Current(*m), ElementsAre("aa11"));
  EXPECT_EQ(m->Downgrade("cc33").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(m->Upgrade("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(m->Upgrade("+x").status().code(),
            absl::StatusCode::kInvalidArgument);
  // Upgrading to an applied revision is a no-op.
  auto noop = m->Upgrade("aa11");
  ASSERT_OK(noop);
  EXPECT_THAT(noop->steps, IsEmpty());
}

TEST_F(MigratorTest, OfflineSqlTouchesNothing) {
  auto m = Make(testing::ProjectMigrations());
  auto result = m->Upgrade("head", {/*sql_only=*/true});
  ASSERT_OK(result);
  EXPECT_THAT(result->sql, HasSubstr("CREATE TABLE departments"));
  EXPECT_THAT(result->sql, HasSubstr("ADD COLUMN notes"));
  EXPECT_EQ(result->steps.size(), m->graph().topological_order().size());
  EXPECT_FALSE(std::filesystem::exists(db_path()));

  ASSERT_OK(m->Upgrade("head"));
  auto down = m->Downgrade("base", {/*sql_only=*/true});
  ASSERT_OK(down);
  EXPECT_THAT(down->sql, HasSubstr("DROP TABLE employees"));
  EXPECT_THAT(Current(*m), ElementsAre(m->graph().heads()[0]));
  EXPECT_TRUE(HasTable("employees"));
}

TEST_F(MigratorTest, StampRecordsRevisionWithoutSqlAndValidateSeesDrift) {
  auto m = Make(testing::ProjectMigrations());
  ASSERT_OK(m->Stamp("head"));
  EXPECT_THAT(Current(*m), ElementsAre(m->graph().heads()[0]));
  EXPECT_FALSE(HasTable("employees"));
  auto problems = m->Validate();
  ASSERT_OK(problems);
  EXPECT_THAT(*problems,
              ::testing::Contains(HasSubstr("employees is missing")));
  ASSERT_OK(m->Stamp("base"));
  EXPECT_THAT(Current(*m), IsEmpty());
}

TEST_F(MigratorTest, ValidateFindsScriptEditedAfterApply) {
  testing::AddScript(scripts_dir(), "r1", "none", "CREATE TABLE t (x);",
                     "DROP TABLE t;");
  ASSERT_OK(Make(scripts_dir())->Upgrade("head"));
  testing::WriteFile(
      dir_.Join("migrations/r1.sql"),
      testing::ScriptText("r1", "none", "CREATE TABLE t (x);  -- edited",
                          "DROP TABLE t;"));
  auto problems = Make(scripts_dir())->Validate();
  ASSERT_OK(problems);
  EXPECT_THAT(*problems, ElementsAre(HasSubstr("r1.sql (revision r1) was "
                                               "edited after it was applied")));
}

TEST_F(MigratorTest, ValidateFindsSchemaDrift) {
  auto m = Make(testing::ProjectMigrations());
  ASSERT_OK(m->Upgrade("head"));
  ASSERT_OK(
      Db()->Exec("CREATE INDEX employees_by_name ON employees (full_name);"
                 "DROP INDEX employees_department_id;"));
  auto problems = m->Validate();
  ASSERT_OK(problems);
  EXPECT_THAT(*problems, UnorderedElementsAre(
                             HasSubstr("employees_department_id is missing"),
                             HasSubstr("unexpected index on employees")));
}

TEST_F(MigratorTest, LockHeldByAnotherRunnerAbortsWithoutChanges) {
  auto m = Make(testing::ProjectMigrations(), absl::Milliseconds(100));
  auto lock = FileLock::Acquire(db_path() + ".migrate.lock", absl::Seconds(1));
  ASSERT_OK(lock);
  auto result = m->Upgrade("head");
  EXPECT_EQ(result.status().code(), absl::StatusCode::kAborted);
  EXPECT_THAT(result.status().message(), HasSubstr("another migration"));
  lock->reset();
  EXPECT_THAT(Current(*m), IsEmpty());
  ASSERT_OK(m->Upgrade("head"));
}

TEST_F(MigratorTest, DatabaseAtUnknownRevisionIsRefused) {
  testing::AddScript(scripts_dir(), "r1", "none", "CREATE TABLE t (x);",
                     "DROP TABLE t;");
  testing::AddScript(scripts_dir(), "r2", "r1", "CREATE TABLE u (x);",
                     "DROP TABLE u;");
  ASSERT_OK(Make(scripts_dir())->Upgrade("head"));
  std::filesystem::remove(dir_.Join("migrations/r2.sql"));
  auto older = Make(scripts_dir());
  auto result = older->Upgrade("head");
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(result.status().message(), HasSubstr("r2"));
  auto problems = older->Validate();
  ASSERT_OK(problems);
  EXPECT_THAT(*problems, ElementsAre(HasSubstr("at revision r2")));
}

TEST_F(MigratorTest, RevisionWithoutDowngradeCannotBeReverted) {
  testing::WriteFile(dir_.Join("migrations/r1.sql"),
                     "-- revision: r1\n-- down_revision: none\n-- +upgrade\n"
                     "CREATE TABLE t (x);\n");
  auto m = Make(scripts_dir());
  ASSERT_OK(m->Upgrade("head"));
  auto result = m->Downgrade("base");
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(result.status().message(), HasSubstr("no '-- +downgrade'"));
  EXPECT_TRUE(HasTable("t"));
}

TEST_F(MigratorTest, MarkerOfKilledRunIsClearedByNextRun) {
  auto m = Make(testing::ProjectMigrations());
  ASSERT_OK(m->Upgrade("+1"));
  ASSERT_OK(Db()->Exec(
      "INSERT INTO pulse_migration_run (id, pid, target, started_at) "
      "VALUES (1, 999999, 'upgrade head', '2026-01-01T00:00:00Z')"));
  auto state = m->GetState();
  ASSERT_OK(state);
  EXPECT_TRUE(state->migration_in_progress);
  ASSERT_OK(m->Upgrade("head"));
  state = m->GetState();
  ASSERT_OK(state);
  EXPECT_FALSE(state->migration_in_progress);
}

TEST_F(MigratorTest, NewRevisionFollowsHeadAndRefusesSeveralHeads) {
  testing::AddScript(scripts_dir(), "a", "none", "", "");
  auto m = Make(scripts_dir());
  auto path = WriteNewRevision(scripts_dir(), m->graph(), "add a thing");
  ASSERT_OK(path);
  EXPECT_THAT(*path, HasSubstr("_add_a_thing.sql"));
  auto reloaded = Make(scripts_dir());
  ASSERT_EQ(reloaded->graph().heads().size(), 1u);
  const std::string new_id = reloaded->graph().heads()[0];
  EXPECT_THAT(reloaded->graph().Find(new_id)->down_revisions, ElementsAre("a"));
  EXPECT_EQ(
      WriteNewRevision(scripts_dir(), reloaded->graph(), "").status().code(),
      absl::StatusCode::kInvalidArgument);

  testing::AddScript(scripts_dir(), "b", "a", "", "");
  auto two_heads = Make(scripts_dir());
  EXPECT_THAT(WriteNewRevision(scripts_dir(), two_heads->graph(), "x")
                  .status()
                  .message(),
              HasSubstr("merge them first"));
  EXPECT_EQ(
      WriteMergeRevision(scripts_dir(), reloaded->graph(), "x").status().code(),
      absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace pulse::migrate
