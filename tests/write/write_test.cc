// The write path against real database files: the subtree index's
// triggers under plain SQL, import, export and ApplyChanges.

#include <cstdio>
#include <map>
#include <random>

#include "SQLiteCpp/SQLiteCpp.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/hierarchy/hierarchy.h"
#include "libs/migrate/migrator.h"
#include "libs/seed/seed.h"
#include "libs/store/pool.h"
#include "libs/store/store.h"
#include "libs/write/changes.h"
#include "libs/write/import.h"
#include "tests/test_util/migrations.h"
#include "tests/test_util/org_reference.h"
#include "tests/test_util/project_db.h"
#include "tests/test_util/status_matchers.h"
#include "tests/test_util/temp_dir.h"

namespace pulse::write {
namespace {

using ::testing::HasSubstr;

class WriteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK(testing::MigrateToHead(db_path()));
    Reopen();
  }

  void Reopen() {
    store_db_.reset();
    db_.reset();
    db_ = testing::OpenSqlite(db_path());
    store_db_ = std::make_unique<store::Database>(db_->getHandle());
  }

  std::string db_path() const { return dir_.Join("pulse.db"); }

  // A connection of its own for ApplyChanges, as the service has.
  store::Connection& Writer() {
    if (writer_ == nullptr) {
      auto db = store::Open(db_path(), store::OpenOptions());
      EXPECT_OK(db);
      writer_ = std::make_unique<store::Connection>(*std::move(db));
    }
    return *writer_;
  }

  void Exec(const std::string& sql) { db_->exec(sql); }
  // The error of `sql`, or "" when it runs.
  std::string ErrorOf(const std::string& sql) {
    try {
      db_->exec(sql);
    } catch (const SQLite::Exception& e) {
      return e.what();
    }
    return "";
  }
  int64_t Count(const std::string& where = "1") {
    return db_
        ->execAndGet(
            absl::StrCat("SELECT count(*) FROM employees WHERE ", where))
        .getInt64();
  }

  // Every employee's org_path is the chain of ids from the top down to
  // them, as a walk over manager_id gives it (a report whose manager is
  // missing starts a path of their own).
  void ExpectPathsMatchManagers() {
    std::map<int64_t, std::optional<int64_t>> manager;
    std::map<int64_t, std::string> stored;
    SQLite::Statement q(*db_, "SELECT id, manager_id, org_path FROM employees");
    while (q.executeStep()) {
      const int64_t id = q.getColumn(0).getInt64();
      if (!q.getColumn(1).isNull())
        manager[id] = q.getColumn(1).getInt64();
      else
        manager[id] = std::nullopt;
      stored[id] = q.getColumn(2).getString();
    }
    for (const auto& [id, path] : stored) {
      std::string expected;
      std::optional<int64_t> at = id;
      int steps = 0;
      while (at.has_value() && manager.count(*at) && steps++ < 100000) {
        expected = absl::StrFormat("%08x", *at) + expected;
        at = manager[*at];
      }
      ASSERT_EQ(path, expected) << "employee " << id;
    }
  }

  // Streams every top-level subtree through the read path and compares it
  // with a plain walk of manager_id.
  void ExpectSubtreesMatchReference() {
    testing::OrgTree tree = testing::OrgTree::Load(db_path());
    store::OpenOptions open;
    open.read_only = true;
    store::ConnectionPool pool(db_path(), open, 2);
    for (int64_t root : tree.children[0]) {
      auto lease = pool.Acquire();
      ASSERT_OK(lease);
      auto snapshot = hierarchy::Snapshot::Begin(*std::move(lease));
      ASSERT_OK(snapshot);
      hierarchy::SubtreeRequest request;
      request.root_id = root;
      std::vector<std::pair<int64_t, int>> got;
      bool truncated = false;
      ASSERT_OK((*snapshot)->StreamSubtree(
          request,
          [&](hierarchy::Employee& e) {
            got.emplace_back(e.id, e.depth);
            return true;
          },
          nullptr, &truncated));
      ASSERT_EQ(got, tree.Dfs(root, 0)) << "subtree of " << root;
    }
  }

  std::string Insert(int64_t id, std::optional<int64_t> manager) {
    return absl::StrCat(
        "INSERT INTO employees (id, manager_id, full_name, email, hire_date) "
        "VALUES (",
        id, ", ", manager ? absl::StrCat(*manager) : "NULL", ", 'E", id,
        "', 'e", id, "@x', '2020-01-01')");
  }

  // Imports CSV text; the importer's status.
  absl::StatusOr<WriteSummary> ImportCsv(const std::string& text,
                                         ImportMode mode = ImportMode::kMerge,
                                         bool dry_run = false,
                                         const std::string& departments = "") {
    const std::string file = dir_.Join("in.csv");
    testing::WriteFile(file, text);
    ImportOptions options;
    options.mode = mode;
    options.dry_run = dry_run;
    options.source = "in.csv";
    auto importer = Importer::Begin(*store_db_, options);
    if (!importer.ok()) return importer.status();
    auto feed = [&](const std::string& path, bool employees) -> absl::Status {
      if (employees) {
        return ReadEmployees(
            path, Format::kCsv, false,
            [&](const EmployeeRow& row) {
              return (*importer)->AddEmployee(row);
            },
            [&](RowError e, const EmployeeRow* row) {
              if (row != nullptr && row->id > 0) {
                (*importer)->AddRejected(row->id, row->line);
              }
              (*importer)->AddError(std::move(e));
            });
      }
      return ReadDepartments(
          path, Format::kCsv, true,
          [&](const DepartmentRow& row) {
            return (*importer)->AddDepartment(row);
          },
          [&](RowError e, const DepartmentRow*) {
            (*importer)->AddError(std::move(e));
          });
    };
    if (!departments.empty()) {
      const std::string dfile = dir_.Join("departments.csv");
      testing::WriteFile(dfile, departments);
      if (absl::Status s = feed(dfile, false); !s.ok()) return s;
    }
    if (absl::Status s = feed(file, true); !s.ok()) return s;
    return (*importer)->Finish();
  }

  std::string ExportText(Format format, std::string* departments = nullptr) {
    const std::string file = dir_.Join("out.txt");
    const std::string dfile = dir_.Join("out_departments.txt");
    std::FILE* out = std::fopen(file.c_str(), "wb");
    std::FILE* dout = departments ? std::fopen(dfile.c_str(), "wb") : nullptr;
    EXPECT_OK(Export(*store_db_, format, out, dout));
    std::fclose(out);
    if (dout) {
      std::fclose(dout);
      *departments = testing::ReadFile(dfile);
    }
    return testing::ReadFile(file);
  }

  testing::TempDir dir_;
  std::unique_ptr<SQLite::Database> db_;
  // db_ for the libraries under test.
  std::unique_ptr<store::Database> store_db_;
  std::unique_ptr<store::Connection> writer_;
};

TEST_F(WriteTest, PlainSqlInsertsInAnyOrderGetTheRightPaths) {
  // Reports before their managers, two levels deep, in one transaction
  // (the references are checked at commit).
  Exec("BEGIN");
  Exec(Insert(10, std::nullopt));
  Exec(Insert(13, 12));
  Exec(Insert(14, 12));
  Exec(Insert(15, 13));
  ExpectPathsMatchManagers();
  Exec(Insert(12, 11));
  Exec(Insert(11, 10));
  Exec("COMMIT");
  ExpectPathsMatchManagers();
  EXPECT_EQ(db_->execAndGet("SELECT org_path FROM employees WHERE id = 15")
                .getString(),
            "0000000a0000000b0000000c0000000d0000000f");
  ExpectSubtreesMatchReference();
}

TEST_F(WriteTest, IdsOutsideThePathFormatAreRefusedAtWriteTime) {
  // The table's CHECK (revision d6838dd0e4dc) answers before the insert
  // trigger of 7d2e4b9c1f60 would.
  constexpr char kRefused[] =
      "CHECK constraint failed: employee_id_out_of_range_1_to_4294967295";
  EXPECT_THAT(ErrorOf(Insert(5000000000, std::nullopt)), HasSubstr(kRefused));
  EXPECT_THAT(ErrorOf(Insert(0, std::nullopt)), HasSubstr(kRefused));
  EXPECT_THAT(ErrorOf(Insert(-3, std::nullopt)), HasSubstr(kRefused));
  EXPECT_EQ(ErrorOf(Insert(4294967295, std::nullopt)), "");
  EXPECT_EQ(Count(), 1);
  ExpectPathsMatchManagers();
}

TEST_F(WriteTest, ACycleIsRefusedWhateverStatementMakesItNamingTheIds) {
  // In one multi-row insert.
  EXPECT_THAT(
      ErrorOf("INSERT INTO employees (id, manager_id, full_name, email, "
              "hire_date) VALUES (1, 3, 'a', 'a@x', '2020-01-01'), (2, 1, 'b', "
              "'b@x', '2020-01-01'), (3, 2, 'c', 'c@x', '2020-01-01')"),
      HasSubstr("a manager cycle: employee 1 reports to employee 3"));
  EXPECT_EQ(Count(), 0);
  // Row by row.
  Exec("BEGIN");
  Exec(Insert(1, 3));
  Exec(Insert(2, 1));
  EXPECT_THAT(ErrorOf(Insert(3, 2)), HasSubstr("a manager cycle"));
  // By an update of manager_id.
  Exec(Insert(3, std::nullopt));
  Exec("COMMIT");
  Exec(Insert(4, 3));
  Exec("UPDATE employees SET manager_id = 3 WHERE id = 1");
  EXPECT_THAT(ErrorOf("UPDATE employees SET manager_id = 2 WHERE id = 3"),
              HasSubstr("employee 3 cannot report to employee 2"));
  EXPECT_THAT(ErrorOf("UPDATE employees SET manager_id = CASE id WHEN 4 THEN "
                      "1 WHEN 1 THEN 4 END WHERE id IN (1, 4)"),
              HasSubstr("a manager cycle"));
  ExpectPathsMatchManagers();
}

TEST_F(WriteTest, DeletingAManagerWithoutForeignKeysLeavesReadableTopLevels) {
  Exec("PRAGMA foreign_keys = OFF");
  Exec(Insert(1, std::nullopt));
  Exec(Insert(2, 1));
  Exec(Insert(3, 2));
  Exec("DELETE FROM employees WHERE id = 2");
  ExpectPathsMatchManagers();
  // The manager comes back: their reports move under them again.
  Exec(Insert(2, 1));
  ExpectPathsMatchManagers();
  ExpectSubtreesMatchReference();
}

constexpr char kHeader[] =
    "id,manager_id,full_name,title,email,department,hire_date,notes\n";

TEST_F(WriteTest, AnHrExportOutOfOrderImportsAsTheRightTree) {
  auto summary = ImportCsv(
      absl::StrCat(kHeader,
                   "7,3,Gus Grey,Engineer,gus@x,Platform,2021-05-01,\n"
                   "3,1,\"Hart, Ann\",VP Engineering,ann@x,Engineering,"
                   "2019-01-02,\"likes \"\"quotes\"\"\nand lines\"\n"
                   "1,,Cleo Chief,CEO,cleo@x,,2015-03-04,\n"
                   "5,3,Eve Ek,Engineer,eve@x,Platform,2022-07-08,\n"),
      ImportMode::kMerge, false,
      "name,parent,head_employee_id\nEngineering,,3\nPlatform,Engineering,5\n");
  ASSERT_OK(summary);
  EXPECT_EQ(summary->added, 4);
  EXPECT_EQ(summary->departments_added, 2);
  ExpectPathsMatchManagers();
  ExpectSubtreesMatchReference();
  EXPECT_EQ(
      db_->execAndGet("SELECT notes FROM employees WHERE id = 3").getString(),
      "likes \"quotes\"\nand lines");
  EXPECT_EQ(db_->execAndGet("SELECT p.name || '/' || d.name || '/' || "
                            "d.head_employee_id FROM departments d JOIN "
                            "departments p ON p.id = d.parent_id")
                .getString(),
            "Engineering/Platform/5");
  // A new head for one department, a new department: one updated, one
  // added, the rest as they were.
  auto again = ImportCsv(
      absl::StrCat(kHeader,
                   "7,3,Gus Grey,Engineer,gus@x,Platform,2021-05-01,\n"),
      ImportMode::kMerge, false,
      "name,parent,head_employee_id\nEngineering,,3\nPlatform,Engineering,"
      "7\nData,Engineering,\n");
  ASSERT_OK(again);
  EXPECT_EQ(again->departments_updated, 1);
  EXPECT_EQ(again->departments_added, 1);
  EXPECT_EQ(again->unchanged, 1);
}

TEST_F(WriteTest, OneBadRowChangesNothingAndNamesItsLine) {
  ASSERT_OK(ImportCsv(absl::StrCat(kHeader, "1,,A,,a@x,,2020-01-01,\n")));
  auto summary = ImportCsv(absl::StrCat(kHeader,
                                        "2,1,B,,b@x,,2020-01-01,\n"
                                        "3,2,C,,c@x,,2020-13-01,\n"
                                        "4,3,D,,d@x,,2020-01-01,\n"));
  ASSERT_FALSE(summary.ok());
  EXPECT_EQ(summary.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(summary.status().message(),
              HasSubstr("in.csv:3: hire_date: '2020-13-01' is not a date"));
  // Row 4's manager (3) was refused, not unknown: one error only.
  EXPECT_THAT(summary.status().message(), HasSubstr("1 invalid row,"));
  EXPECT_EQ(Count(), 1);
}

TEST_F(WriteTest, ImportChecksEveryRuleAndListsEachProblem) {
  ASSERT_OK(ImportCsv(absl::StrCat(kHeader, "1,,A,,a@x,,2020-01-01,\n")));
  auto summary = ImportCsv(
      absl::StrCat(kHeader,
                   "2,,B,,b@x,,2020-01-01,\n"    // 2
                   "2,,B2,,b2@x,,2020-01-01,\n"  // 3: duplicate id
                   "4,,D,,b@x,,2020-01-01,\n"  // 4: duplicate email in the file
                   "5,,E,,a@x,,2020-01-01,\n"  // 5: email of employee 1
                   "6,99,F,,f@x,,2020-01-01,\n"  // 6: unknown manager
                   "7,8,G,,g@x,,2020-01-01,\n"   // 7: cycle 7 -> 8 -> 7
                   "8,7,H,,h@x,,2020-01-01,\n"   // 8
                   "9,9,I,,i@x,,2020-01-01,\n"   // 9: own manager
                   "10,,,,j@x,,2020-01-01,\n"    // 10: missing name
                   "11,,K,,k@x,,yesterday,\n"    // 11: bad date
                   "x,,L,,l@x,,2020-01-01,\n"    // 12: id not a number
                   "5000000000,,M,,m@x,,2020-01-01,\n"));  // 13: out of range
  ASSERT_FALSE(summary.ok());
  const std::string m(summary.status().message());
  for (const char* expected :
       {"in.csv:3: id: duplicate id 2 (also on line 2)",
        "in.csv:2: email: duplicate email 'b@x' (lines 2, 4)",
        "in.csv:5: email: 'a@x' already belongs to employee 1",
        "in.csv:6: manager_id: no employee 99", "manager_id: a manager cycle: ",
        "in.csv:9: manager_id: an employee "
        "cannot be their own manager",
        "in.csv:10: full_name: missing", "in.csv:11: hire_date: 'yesterday'",
        "in.csv:12: id: 'x' is not an integer",
        "in.csv:13: id: 5000000000 is out of range"}) {
    EXPECT_THAT(m, HasSubstr(expected));
  }
  EXPECT_EQ(Count(), 1);
}

TEST_F(WriteTest, MergeMovesUpdatesAndKeepsTheRestReplaceDeletesIt) {
  ASSERT_OK(ImportCsv(absl::StrCat(kHeader,
                                   "1,,A,,a@x,,2020-01-01,\n"
                                   "2,1,B,,b@x,,2020-01-01,\n"
                                   "3,2,C,,c@x,,2020-01-01,\n"
                                   "4,3,D,,d@x,,2020-01-01,\n")));
  // Swap 2 and 3 (each would pass through a cycle if moved first alone)
  // and rename 4.
  auto merged = ImportCsv(absl::StrCat(kHeader,
                                       "3,1,C,,c@x,,2020-01-01,\n"
                                       "2,3,B,,b@x,,2020-01-01,\n"
                                       "4,3,D2,,d@x,,2020-01-01,\n"));
  ASSERT_OK(merged);
  EXPECT_EQ(merged->moved, 2);
  EXPECT_EQ(merged->updated, 3);
  EXPECT_EQ(Count(), 4);
  ExpectPathsMatchManagers();
  auto dry = ImportCsv(absl::StrCat(kHeader, "1,,A,,a@x,,2020-01-01,\n"),
                       ImportMode::kReplace, /*dry_run=*/true);
  ASSERT_OK(dry);
  EXPECT_EQ(dry->deleted, 3);
  EXPECT_EQ(Count(), 4);
  auto replaced = ImportCsv(absl::StrCat(kHeader,
                                         "1,,A,,a@x,,2020-01-01,\n"
                                         "5,1,E,,e@x,,2020-01-01,\n"),
                            ImportMode::kReplace);
  ASSERT_OK(replaced);
  EXPECT_EQ(replaced->deleted, 3);
  EXPECT_EQ(replaced->added, 1);
  EXPECT_EQ(Count(), 2);
  ExpectPathsMatchManagers();
  ExpectSubtreesMatchReference();
}

TEST_F(WriteTest, ExportImportExportIsByteIdenticalInBothFormats) {
  seed::SeedOptions options;
  options.employees = 2000;
  db_.reset();
  ASSERT_OK(seed::SeedOrganisation(db_path(), options));
  Reopen();
  Exec(
      "UPDATE employees SET notes = 'a, \"b\"' || char(10) || 'c' WHERE id "
      "% 7 = 0");
  for (Format format : {Format::kCsv, Format::kJsonl}) {
    std::string departments;
    const std::string first = ExportText(format, &departments);
    testing::TempDir other;
    {
      migrate::MigratorOptions m;
      m.db_path = other.Join("copy.db");
      auto migrator =
          migrate::Migrator::Create(testing::ProjectMigrations(), m);
      ASSERT_OK(migrator);
      ASSERT_OK((*migrator)->Upgrade("head"));
    }
    const std::string emp =
        other.Join(format == Format::kCsv ? "e.csv" : "e.jsonl");
    const std::string dep =
        other.Join(format == Format::kCsv ? "d.csv" : "d.jsonl");
    testing::WriteFile(emp, first);
    testing::WriteFile(dep, departments);
    store::OpenOptions open;
    auto copy = store::Open(other.Join("copy.db"), open);
    ASSERT_OK(copy);
    ImportOptions import_options;
    auto importer = Importer::Begin(**copy, import_options);
    ASSERT_OK(importer);
    auto refuse = [](RowError e, const void*) {
      ADD_FAILURE() << e.line << ": " << e.column << ": " << e.problem;
    };
    ASSERT_OK(ReadDepartments(
        dep, format, true,
        [&](const DepartmentRow& row) {
          return (*importer)->AddDepartment(row);
        },
        refuse));
    ASSERT_OK(ReadEmployees(
        emp, format, false,
        [&](const EmployeeRow& row) { return (*importer)->AddEmployee(row); },
        refuse));
    ASSERT_OK((*importer)->Finish());
    importer->reset();
    std::swap(store_db_, *copy);
    std::string departments_again;
    const std::string again = ExportText(format, &departments_again);
    std::swap(store_db_, *copy);
    EXPECT_TRUE(first == again) << "employees differ";
    EXPECT_TRUE(departments == departments_again) << "departments differ";
  }
}

TEST_F(WriteTest, ApplyChangesIsAtomicAndNamesTheChange) {
  std::vector<Change> changes = {
      UpsertEmployee{1, std::nullopt, std::nullopt, "A", "", "a@x",
                     "2020-01-01", std::nullopt},
      UpsertEmployee{2, 1, std::nullopt, "B", "", "b@x", "2020-01-01",
                     std::nullopt},
      UpsertEmployee{3, 2, std::nullopt, "C", "", "c@x", "2020-01-01",
                     std::nullopt}};
  auto applied = ApplyChanges(Writer(), changes, false, nullptr);
  ASSERT_OK(applied);
  EXPECT_EQ(applied->added, 3);
  struct Case {
    Change change;
    absl::StatusCode code;
    const char* text;
  };
  const std::vector<Case> cases = {
      {MoveEmployee{1, 3}, absl::StatusCode::kFailedPrecondition,
       "changes[1].move_employee: a manager cycle: employee 1 cannot report "
       "to employee 3"},
      {MoveEmployee{9, 1}, absl::StatusCode::kNotFound, "no employee 9"},
      {UpsertEmployee{4, 1, std::nullopt, "D", "", "b@x", "2020-01-01",
                      std::nullopt},
       absl::StatusCode::kAlreadyExists, "changes[1].upsert_employee.email"},
      {UpsertEmployee{4, 1, std::nullopt, "D", "", "d@x", "2020-02-30",
                      std::nullopt},
       absl::StatusCode::kInvalidArgument,
       "changes[1].upsert_employee.hire_date"},
      {UpsertEmployee{5000000000, 1, std::nullopt, "D", "", "d@x", "2020-01-01",
                      std::nullopt},
       absl::StatusCode::kInvalidArgument, "upsert_employee.id"},
      {UpsertEmployee{4, 1, 77, "D", "", "d@x", "2020-01-01", std::nullopt},
       absl::StatusCode::kNotFound, "no department 77"},
      {DeleteEmployee{1, 3}, absl::StatusCode::kFailedPrecondition,
       "is in the subtree of employee 1"},
  };
  for (const Case& c : cases) {
    // A valid change first: it must be rolled back with the bad one.
    auto result =
        ApplyChanges(Writer(),
                     {UpsertEmployee{8, 1, std::nullopt, "H", "", "h@x",
                                     "2020-01-01", std::nullopt},
                      c.change},
                     false, nullptr);
    ASSERT_FALSE(result.ok()) << c.text;
    EXPECT_EQ(result.status().code(), c.code) << result.status();
    EXPECT_THAT(result.status().message(), HasSubstr(c.text));
    EXPECT_EQ(Count("id = 8"), 0);
  }
  // Deleting 2 moves their report 3 to 2's manager, 1.
  auto deleted =
      ApplyChanges(Writer(), {DeleteEmployee{2, std::nullopt}}, false, nullptr);
  ASSERT_OK(deleted);
  EXPECT_EQ(deleted->reports_reassigned, 1);
  EXPECT_EQ(db_->execAndGet("SELECT manager_id FROM employees WHERE id = 3")
                .getInt64(),
            1);
  auto validated =
      ApplyChanges(Writer(), {DeleteEmployee{3, std::nullopt}}, true, nullptr);
  ASSERT_OK(validated);
  EXPECT_EQ(validated->deleted, 1);
  EXPECT_EQ(Count(), 2);
  ExpectPathsMatchManagers();
}

// Random inserts, moves and deletes by plain SQL, ApplyChanges and
// imports: after each step every path is what manager_id gives, and every
// subtree streams as a walk over manager_id.
TEST_F(WriteTest, RandomWritesByEveryWriterKeepEverySubtreeRight) {
  std::mt19937_64 rng(20261201);
  std::vector<int64_t> ids;
  int64_t next_id = 1;
  auto pick = [&]() { return ids[rng() % ids.size()]; };
  auto manager_of = [&](int64_t id) -> std::optional<int64_t> {
    SQLite::Statement q(*db_, "SELECT manager_id FROM employees WHERE id = ?");
    q.bind(1, id);
    if (!q.executeStep() || q.getColumn(0).isNull()) return std::nullopt;
    return q.getColumn(0).getInt64();
  };
  auto in_subtree = [&](int64_t x, int64_t root) {
    for (std::optional<int64_t> at = x; at; at = manager_of(*at)) {
      if (*at == root) return true;
    }
    return false;
  };
  Exec(Insert(next_id, std::nullopt));
  ids.push_back(next_id++);
  for (int step = 0; step < 300; ++step) {
    const int writer = rng() % 3;
    const int op = ids.size() < 5 ? 0 : rng() % 4;
    if (op <= 1) {
      // A few employees, reports sometimes before their managers.
      const int64_t a = next_id++, b = next_id++;
      const int64_t boss = pick();
      if (writer == 0) {
        Exec("BEGIN");
        Exec(Insert(b, a));
        Exec(Insert(a, boss));
        Exec("COMMIT");
      } else if (writer == 1) {
        ASSERT_OK(ApplyChanges(Writer(),
                               {UpsertEmployee{a, boss, std::nullopt, "A", "",
                                               absl::StrCat("e", a, "@x"),
                                               "2020-01-01", std::nullopt},
                                UpsertEmployee{b, a, std::nullopt, "B", "",
                                               absl::StrCat("e", b, "@x"),
                                               "2020-01-01", std::nullopt}},
                               false, nullptr));
      } else {
        ASSERT_OK(ImportCsv(absl::StrCat(kHeader, b, ",", a, ",B,,e", b,
                                         "@x,,2020-01-01,\n", a, ",", boss,
                                         ",A,,e", a, "@x,,2020-01-01,\n")));
      }
      ids.push_back(a);
      ids.push_back(b);
    } else if (op == 2) {
      const int64_t x = pick(), m = pick();
      if (x == m || in_subtree(m, x)) continue;
      if (writer == 0) {
        Exec(absl::StrCat("UPDATE employees SET manager_id = ", m,
                          " WHERE id = ", x));
      } else if (writer == 1) {
        ASSERT_OK(ApplyChanges(Writer(), {MoveEmployee{x, m}}, false, nullptr));
      } else {
        ASSERT_OK(ImportCsv(absl::StrCat(kHeader, x, ",", m, ",E", x, ",,e", x,
                                         "@x,,2020-01-01,\n")));
      }
    } else {
      const int64_t x = pick();
      if (x == 1) continue;
      if (writer == 0) {
        Exec(absl::StrCat(
            "UPDATE employees SET manager_id = ", manager_of(x).value_or(1),
            " WHERE manager_id = ", x));
        Exec(absl::StrCat("DELETE FROM employees WHERE id = ", x));
      } else {
        ASSERT_OK(ApplyChanges(Writer(), {DeleteEmployee{x, std::nullopt}},
                               false, nullptr));
      }
      ids.erase(std::find(ids.begin(), ids.end(), x));
    }
    ExpectPathsMatchManagers();
    if (HasFatalFailure()) return;
  }
  ExpectSubtreesMatchReference();
  // A whole replace import of what is there keeps it.
  const std::string all = ExportText(Format::kCsv);
  ASSERT_OK(ImportCsv(all, ImportMode::kReplace));
  ExpectPathsMatchManagers();
  ExpectSubtreesMatchReference();
  SQLite::Statement fk(*db_, "PRAGMA foreign_key_check");
  EXPECT_FALSE(fk.executeStep());
}

}  // namespace
}  // namespace pulse::write
