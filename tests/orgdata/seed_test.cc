#include "libs/seed/seed.h"

#include <algorithm>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/store/store.h"
#include "tests/test_util/migrations.h"
#include "tests/test_util/org_reference.h"
#include "tests/test_util/project_db.h"
#include "tests/test_util/status_matchers.h"
#include "tests/test_util/temp_dir.h"

namespace pulse::seed {
namespace {

using ::testing::HasSubstr;

class SeedTest : public ::testing::Test {
 protected:
  std::string Migrated(const std::string& name) {
    const std::string path = dir_.Join(name);
    EXPECT_OK(testing::MigrateToHead(path));
    return path;
  }

  static std::string Dump(const std::string& path) {
    SQLite::Database db(path, SQLite::OPEN_READONLY);
    std::string out;
    for (const char* sql :
         {"SELECT id, manager_id, department_id, full_name, title, email, "
          "hire_date FROM employees ORDER BY id",
          "SELECT id, name, parent_id, head_employee_id FROM departments "
          "ORDER BY id"}) {
      SQLite::Statement q(db, sql);
      while (q.executeStep()) {
        for (int i = 0; i < q.getColumnCount(); ++i) {
          out += q.getColumn(i).getString();
          out += '|';
        }
        out += '\n';
      }
    }
    return out;
  }

  testing::TempDir dir_;
};

TEST_F(SeedTest, SameSeedSameOrganisation) {
  const std::string a = Migrated("a.db"), b = Migrated("b.db"),
                    c = Migrated("c.db");
  ASSERT_OK(SeedOrganisation(a, {5000, 42}));
  ASSERT_OK(SeedOrganisation(b, {5000, 42}));
  ASSERT_OK(SeedOrganisation(c, {5000, 43}));
  EXPECT_EQ(Dump(a), Dump(b));
  EXPECT_NE(Dump(a), Dump(c));
}

TEST_F(SeedTest, RealisticShape) {
  const std::string path = Migrated("org.db");
  auto stats = SeedOrganisation(path, {20000, 1});
  ASSERT_OK(stats);
  EXPECT_EQ(stats->employees, 20000);
  EXPECT_GT(stats->departments, 10);
  EXPECT_GE(stats->max_depth, 5);
  EXPECT_LE(stats->max_depth, 15);
  const auto tree = testing::OrgTree::Load(path);
  EXPECT_EQ(tree.manager.at(1), 0);          // Employee 1 is the top.
  EXPECT_EQ(tree.Dfs(1, 0).size(), 20000u);  // One tree, no orphans.
  SQLite::Database db(path, SQLite::OPEN_READONLY);
  EXPECT_EQ(db.execAndGet("SELECT count(DISTINCT full_name) FROM employees")
                .getInt64(),
            20000);
  SQLite::Statement fk(db, "PRAGMA foreign_key_check");
  EXPECT_FALSE(fk.executeStep());
  // The seeder skips the CHECK constraints for speed; its rows meet them.
  EXPECT_EQ(db.execAndGet("SELECT count(*) FROM employees WHERE "
                          "date(hire_date) IS NULL OR manager_id = id")
                .getInt64(),
            0);
  EXPECT_EQ(db.execAndGet("PRAGMA integrity_check").getString(), "ok");
  // Names spread over the whole name space, not one corner of it.
  EXPECT_GT(db.execAndGet("SELECT count(DISTINCT substr(full_name, 1, "
                          "instr(full_name, ' '))) FROM employees")
                .getInt64(),
            90);
  // Spans vary.
  EXPECT_GT(db.execAndGet("SELECT count(DISTINCT n) FROM (SELECT count(*) n "
                          "FROM employees GROUP BY manager_id)")
                .getInt64(),
            5);
}

TEST_F(SeedTest, SmallOrganisationsGetVariedNames) {
  const std::string path = Migrated("small.db");
  ASSERT_OK(SeedOrganisation(path, {40, 1}));
  SQLite::Database db(path, SQLite::OPEN_READONLY);
  // Surnames: what follows the initial's ". ".
  EXPECT_GE(db.execAndGet("SELECT count(DISTINCT substr(full_name, "
                          "instr(full_name, '. ') + 2)) FROM employees")
                .getInt64(),
            30);
  EXPECT_GE(db.execAndGet("SELECT count(DISTINCT substr(full_name, "
                          "instr(full_name, '. ') - 1, 1)) FROM employees")
                .getInt64(),
            10);
}

// The search index is built in one merge at the end of the load
// (store::RefreshAfterBulkLoad), and FTS5's usual merge settings are back
// for the writes after it: every row found, in one segment.
TEST_F(SeedTest, TheSearchIndexIsWholeAndMergesAsUsualAfterwards) {
  const std::string path = Migrated("search.db");
  ASSERT_OK(SeedOrganisation(path, {20000, 1}));
  SQLite::Database db(path, SQLite::OPEN_READWRITE);
  auto number = [&](const std::string& sql) {
    return db.execAndGet(sql).getInt64();
  };
  EXPECT_EQ(number("SELECT v FROM employee_search_config WHERE k = "
                   "'automerge'"),
            4);
  EXPECT_EQ(number("SELECT v FROM employee_search_config WHERE k = "
                   "'crisismerge'"),
            16);
  EXPECT_EQ(number("SELECT count(DISTINCT segid) FROM employee_search_idx"), 1);
  EXPECT_EQ(number("SELECT count(*) FROM employee_search WHERE "
                   "employee_search MATCH 'chief*'"),
            1);
  db.exec(
      "INSERT INTO employee_search (employee_search) VALUES "
      "('integrity-check')");
}

// FTS5 merges a level of its index once writes have filled it with
// segments: the one segment a bulk load leaves must sit high enough that
// the writes after it do not rewrite it whole (built without merging, it
// sat on level 1 and 400 single-row writes after a seed of 100,000 had
// rewritten it).
TEST_F(SeedTest, TheFirstWritesAfterASeedDoNotRewriteItsSearchIndex) {
  const std::string path = Migrated("writes.db");
  ASSERT_OK(SeedOrganisation(path, {100000, 1}));
  SQLite::Database db(path, SQLite::OPEN_READWRITE);
  auto segments = [&] {
    std::vector<int64_t> ids;
    SQLite::Statement q(db,
                        "SELECT DISTINCT segid FROM employee_search_idx "
                        "ORDER BY segid");
    while (q.executeStep()) ids.push_back(q.getColumn(0).getInt64());
    return ids;
  };
  const std::vector<int64_t> seeded = segments();
  ASSERT_EQ(seeded.size(), 1u);
  SQLite::Statement hire(db,
                         "INSERT INTO employees (id, manager_id, full_name, "
                         "title, email, hire_date) VALUES (?, 1, ?, "
                         "'Engineer', ?, '2026-12-01')");
  for (int i = 1; i <= 1000; ++i) {
    const int64_t id = 200000 + i;
    hire.bind(1, id);
    hire.bind(2, "Hire " + std::to_string(i));
    hire.bind(3, "hire." + std::to_string(i) + "@pulse.example");
    hire.exec();
    hire.reset();
  }
  const std::vector<int64_t> after = segments();
  EXPECT_TRUE(std::find(after.begin(), after.end(), seeded[0]) != after.end())
      << "the seeded segment " << seeded[0] << " was merged away";
  EXPECT_EQ(db.execAndGet("SELECT count(*) FROM employee_search WHERE "
                          "employee_search MATCH 'hire'")
                .getInt64(),
            1000);
}

TEST_F(SeedTest, RefusesUnmigratedOrFilledDatabasesWritingNothing) {
  const std::string empty = dir_.Join("empty.db");
  { SQLite::Database db(empty, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE); }
  auto unmigrated = SeedOrganisation(empty, {10, 1});
  EXPECT_EQ(unmigrated.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(unmigrated.status().message(), HasSubstr("migrate it first"));

  EXPECT_EQ(SeedOrganisation(dir_.Join("missing.db"), {10, 1}).status().code(),
            absl::StatusCode::kNotFound);

  const std::string filled = Migrated("filled.db");
  ASSERT_OK(SeedOrganisation(filled, {100, 1}));
  const std::string before = Dump(filled);
  auto again = SeedOrganisation(filled, {100, 2});
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Dump(filled), before);
  SeedOptions if_empty{100, 2};
  if_empty.if_empty = true;
  auto skipped = SeedOrganisation(filled, if_empty);
  ASSERT_OK(skipped);
  EXPECT_EQ(skipped->employees, 0);
  EXPECT_EQ(Dump(filled), before);
  EXPECT_EQ(SeedOrganisation(Migrated("zero.db"), {0, 1}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace pulse::seed
