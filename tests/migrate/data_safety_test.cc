// The migrator's data guard, its backups, and table rebuilds with foreign
// keys off (issue 17), on real database files.

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/migrate/migrator.h"
#include "libs/seed/seed.h"
#include "libs/store/store.h"
#include "tests/test_util/migrations.h"
#include "tests/test_util/status_matchers.h"
#include "tests/test_util/temp_dir.h"

namespace pulse::migrate {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;
using ::testing::StartsWith;

constexpr char kRebuild[] = "d6838dd0e4dc";
constexpr char kBeforeRebuild[] = "9b4e2d7c5a13";

class DataSafetyTest : public ::testing::Test {
 protected:
  std::string db_path() const { return dir_.Join("pulse.db"); }

  std::unique_ptr<Migrator> Make(const std::string& migrations_dir) {
    MigratorOptions options;
    options.db_path = db_path();
    auto m = Migrator::Create(migrations_dir, options);
    EXPECT_OK(m);
    return m.ok() ? *std::move(m) : nullptr;
  }

  std::unique_ptr<store::Database> Db() {
    auto db = store::Open(db_path(), store::OpenOptions());
    EXPECT_OK(db);
    return *std::move(db);
  }

  void Exec(const std::string& sql) { ASSERT_OK(Db()->Exec(sql)); }

  int64_t Count(const std::string& sql) {
    auto n = Db()->SelectInt(sql);
    EXPECT_OK(n);
    return n.value_or(-1);
  }

  // Every row of `sql`, each as its columns joined by '|'.
  std::vector<std::string> Rows(const std::string& sql,
                                const std::string& path = "") {
    auto db =
        store::Open(path.empty() ? db_path() : path, store::OpenOptions());
    EXPECT_OK(db);
    auto q = (*db)->Prepare(sql);
    EXPECT_OK(q);
    std::vector<std::string> rows;
    EXPECT_OK(q->ForEachRow([&] {
      std::vector<std::string> columns;
      for (int i = 0; i < sqlite3_column_count(q->handle()); ++i) {
        columns.push_back(q->IsNull(i) ? "NULL" : q->Text(i));
      }
      rows.push_back(absl::StrJoin(columns, "|"));
      return absl::OkStatus();
    }));
    return rows;
  }

  // The schema and the row count of every user table.
  std::vector<std::string> State(const std::string& path = "") {
    std::vector<std::string> state = Rows(
        "SELECT type, name, sql FROM sqlite_schema WHERE name NOT LIKE "
        "'sqlite_%' ORDER BY name",
        path);
    for (const std::string& table :
         Rows("SELECT name FROM sqlite_schema WHERE type = 'table' AND name "
              "NOT LIKE 'sqlite_%' AND name NOT IN ('pulse_migration_history', "
              "'pulse_migration_run') ORDER BY name",
              path)) {
      for (const std::string& count :
           Rows(absl::StrCat("SELECT '", table, "', count(*) FROM ", table),
                path)) {
        state.push_back(count);
      }
    }
    return state;
  }

  std::vector<std::string> Current(Migrator& m) {
    auto state = m.GetState();
    EXPECT_OK(state);
    return state.ok() ? state->current : std::vector<std::string>{};
  }

  testing::TempDir dir_;
};

RunOptions AllowDataLoss() {
  RunOptions run;
  run.allow_data_loss = true;
  return run;
}

TEST_F(DataSafetyTest, DowngradeThatDropsRowsIsRefusedUntilAllowedWithABackup) {
  auto m = Make(testing::ProjectMigrations());
  ASSERT_OK(m->Upgrade("head"));
  seed::SeedOptions seed;
  seed.employees = 300;
  ASSERT_OK(seed::SeedOrganisation(db_path(), seed));
  Exec("UPDATE employees SET notes = 'likes tea' WHERE id <= 7");
  // A step that drops nothing (or only derived data) runs without the
  // flag.
  ASSERT_OK(m->Downgrade("-1"));
  ASSERT_OK(m->Upgrade("head"));
  const std::vector<std::string> head = Current(*m);
  const std::vector<std::string> before = State();

  auto refused = m->Downgrade("base");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  const std::string message(refused.status().message());
  EXPECT_THAT(message, HasSubstr("table employees (300 rows)"));
  EXPECT_THAT(message, HasSubstr("table departments ("));
  EXPECT_THAT(message, HasSubstr("column employees.notes (7 values)"));
  EXPECT_THAT(message, HasSubstr("Nothing was changed"));
  EXPECT_THAT(message, HasSubstr("--allow_data_loss"));
  // Derived data is not data loss.
  EXPECT_THAT(message, ::testing::Not(HasSubstr("org_path")));
  EXPECT_EQ(Current(*m), head);
  EXPECT_EQ(State(), before);

  RunOptions run = AllowDataLoss();
  run.backup = true;
  auto allowed = m->Downgrade("base", run);
  ASSERT_OK(allowed);
  EXPECT_THAT(Current(*m), IsEmpty());
  EXPECT_EQ(Count("SELECT count(*) FROM sqlite_schema WHERE name = "
                  "'employees'"),
            0);
  // One before the run (--backup), one before each step that drops data
  // (notes, then the organisation) and one before the rebuild (whose rows
  // are counted as it runs).
  ASSERT_THAT(allowed->backups, SizeIs(4));
  EXPECT_THAT(allowed->backups.back(),
              StartsWith(absl::StrCat(db_path(), ".a1c3f0d2b7e4.")));
  // The first backup is of the state the run started from.
  const std::string& first = allowed->backups[0];
  EXPECT_THAT(first, StartsWith(absl::StrCat(db_path(), ".", head[0], ".")));
  EXPECT_TRUE(absl::EndsWith(first, ".bak"));
  EXPECT_EQ(State(first), before);

  // Put back, it is the database as it was.
  ASSERT_OK(store::RestoreInto(db_path(), first));
  EXPECT_EQ(State(), before);
  EXPECT_EQ(Current(*m), head);
}

TEST_F(DataSafetyTest, BackupOptionWritesOneBeforeTheFirstStep) {
  auto m = Make(testing::ProjectMigrations());
  ASSERT_OK(m->Upgrade(kBeforeRebuild));
  const std::vector<std::string> before = State();
  RunOptions run;
  run.backup = true;
  auto up = m->Upgrade("head", run);
  ASSERT_OK(up);
  ASSERT_THAT(up->backups, SizeIs(1));
  EXPECT_EQ(State(up->backups[0]), before);
}

// Rows of the organisation that a rebuild must keep exactly.
std::string kEmployeeRows =
    "SELECT id, manager_id, department_id, full_name, title, email, "
    "hire_date, notes, org_path FROM employees ORDER BY id";
std::string kDepartmentRows = "SELECT * FROM departments ORDER BY id";

TEST_F(DataSafetyTest, RebuildMigrationKeepsEveryRowHeadAndPathAndReverts) {
  auto m = Make(testing::ProjectMigrations());
  ASSERT_OK(m->Upgrade(kBeforeRebuild));
  seed::SeedOptions seed;
  seed.employees = 10000;
  ASSERT_OK(seed::SeedOrganisation(db_path(), seed));
  const auto employees = Rows(kEmployeeRows);
  const auto departments = Rows(kDepartmentRows);
  ASSERT_EQ(employees.size(), 10000u);
  ASSERT_GT(Count("SELECT count(*) FROM departments WHERE head_employee_id "
                  "IS NOT NULL"),
            0);

  // No data is lost, so no flag is needed.
  ASSERT_OK(m->Upgrade(kRebuild));
  EXPECT_THAT(Current(*m), ElementsAre(kRebuild));
  EXPECT_EQ(Rows(kEmployeeRows), employees);
  EXPECT_EQ(Rows(kDepartmentRows), departments);
  auto problems = m->Validate();
  ASSERT_OK(problems);
  EXPECT_THAT(*problems, IsEmpty());
  // The table holds the id rule; the triggers came back with it.
  EXPECT_THAT(std::string(Db()->Exec("INSERT INTO employees (id, full_name, "
                                     "email, hire_date) VALUES (5000000000, "
                                     "'x', 'x@example.com', '2024-01-01')")
                              .message()),
              HasSubstr("employee_id_out_of_range_1_to_4294967295"));
  Exec(
      "INSERT INTO employees (id, manager_id, full_name, email, hire_date) "
      "VALUES (20000, 2, 'New Hire', 'new.hire@example.com', '2024-01-01')");
  EXPECT_EQ(Count("SELECT count(*) FROM employees WHERE id = 20000 AND "
                  "org_path = (SELECT org_path FROM employees WHERE id = 2) "
                  "|| printf('%08x', 20000)"),
            1);
  Exec("DELETE FROM employees WHERE id = 20000");

  ASSERT_OK(m->Downgrade("-1"));
  EXPECT_THAT(Current(*m), ElementsAre(kBeforeRebuild));
  EXPECT_EQ(Rows(kEmployeeRows), employees);
  EXPECT_EQ(Rows(kDepartmentRows), departments);
  problems = m->Validate();
  ASSERT_OK(problems);
  EXPECT_THAT(*problems, IsEmpty());
}

class RebuildScriptTest : public DataSafetyTest {
 protected:
  void SetUp() override {
    std::filesystem::create_directory(scripts());
    testing::AddScript(scripts(), "root", "none",
                       "CREATE TABLE parent (id INTEGER PRIMARY KEY);\n"
                       "CREATE TABLE child (id INTEGER PRIMARY KEY,\n"
                       "  parent_id INTEGER REFERENCES parent (id));",
                       "DROP TABLE child; DROP TABLE parent;");
  }

  std::string scripts() const { return dir_.Join("scripts"); }

  // A rebuild of parent keeping the rows `keep` selects.
  void AddRebuild(const std::string& keep, bool foreign_keys_off) {
    const std::string upgrade = absl::StrCat(
        "CREATE TABLE parent_new (id INTEGER PRIMARY KEY, note TEXT);\n"
        "INSERT INTO parent_new (id) SELECT id FROM parent WHERE ",
        keep,
        ";\nDROP TABLE parent;\nALTER TABLE parent_new RENAME TO parent;");
    testing::WriteFile(
        absl::StrCat(scripts(), "/rebuild.sql"),
        absl::StrCat("-- revision: rebuild\n-- down_revision: root\n"
                     "-- description: parent rebuilt\n",
                     foreign_keys_off ? "-- foreign_keys: off\n" : "",
                     "-- +upgrade\n", upgrade, "\n"));
  }

  void Populate(Migrator& m) {
    ASSERT_OK(m.Upgrade("root"));
    Exec(
        "INSERT INTO parent VALUES (1), (2), (3);"
        "INSERT INTO child VALUES (10, 1), (11, 2), (12, 2), (13, 3)");
  }
};

TEST_F(RebuildScriptTest, WithForeignKeysOnTheDropFails) {
  AddRebuild("1 = 1", /*foreign_keys_off=*/false);
  auto m = Make(scripts());
  Populate(*m);
  auto up = m->Upgrade("head");
  EXPECT_EQ(up.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(up.status().message(), HasSubstr("FOREIGN KEY constraint"));
  EXPECT_THAT(Current(*m), ElementsAre("root"));
}

TEST_F(RebuildScriptTest, ForeignKeysOffRebuildKeepsTheReferences) {
  AddRebuild("1 = 1", /*foreign_keys_off=*/true);
  // The next step of the same run has foreign keys on again: breaking one
  // fails it.
  testing::AddScript(scripts(), "after", "rebuild", "DELETE FROM parent;", "");
  auto m = Make(scripts());
  Populate(*m);
  auto up = m->Upgrade("head");
  EXPECT_EQ(up.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(up.status().message(), HasSubstr("revision after"));
  EXPECT_THAT(up.status().message(), HasSubstr("FOREIGN KEY constraint"));
  EXPECT_THAT(Current(*m), ElementsAre("rebuild"));
  EXPECT_EQ(Count("SELECT count(*) FROM parent"), 3);
  EXPECT_EQ(Count("SELECT count(*) FROM pragma_table_info('parent')"), 2);
  EXPECT_EQ(Count("SELECT count(*) FROM child c JOIN parent p ON p.id = "
                  "c.parent_id"),
            4);
}

TEST_F(RebuildScriptTest, BrokenReferenceRollsBackNamingTheRows) {
  AddRebuild("id = 1", /*foreign_keys_off=*/true);
  auto m = Make(scripts());
  Populate(*m);
  auto up = m->Upgrade("head");
  EXPECT_EQ(up.status().code(), absl::StatusCode::kFailedPrecondition);
  const std::string message(up.status().message());
  EXPECT_THAT(message, HasSubstr("foreign_key_check found 3 row(s)"));
  EXPECT_THAT(message, HasSubstr("child row 11 (parent_id -> parent)"));
  EXPECT_THAT(message, HasSubstr("child row 12 (parent_id -> parent)"));
  EXPECT_THAT(message, HasSubstr("child row 13 (parent_id -> parent)"));
  EXPECT_THAT(Current(*m), ElementsAre("root"));
  EXPECT_EQ(Count("SELECT count(*) FROM parent"), 3);
  EXPECT_EQ(Count("SELECT count(*) FROM pragma_table_info('parent')"), 1);
}

TEST_F(RebuildScriptTest, RebuildIntoFewerRowsNeedsTheFlag) {
  // No reference breaks: the dropped parent has no children.
  AddRebuild("id <> 4", /*foreign_keys_off=*/true);
  auto m = Make(scripts());
  Populate(*m);
  Exec("INSERT INTO parent VALUES (4)");
  auto up = m->Upgrade("head");
  EXPECT_EQ(up.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(up.status().message(),
              HasSubstr("its rebuild would lose data: table parent (1 of 4 "
                        "rows)"));
  EXPECT_THAT(Current(*m), ElementsAre("root"));
  auto allowed = m->Upgrade("head", AllowDataLoss());
  ASSERT_OK(allowed);
  EXPECT_THAT(allowed->backups, SizeIs(1));
  EXPECT_EQ(Count("SELECT count(*) FROM parent"), 3);
}

}  // namespace
}  // namespace pulse::migrate
