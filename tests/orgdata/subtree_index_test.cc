// The subtree index (employees.org_path and its triggers) stays right as
// the organisation changes, and subtree reads through it match a plain
// walk of manager_id.

#include <map>
#include <random>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/hierarchy/hierarchy.h"
#include "libs/seed/seed.h"
#include "libs/store/pool.h"
#include "libs/write/integrity.h"
#include "tests/test_util/migrations.h"
#include "tests/test_util/org_reference.h"
#include "tests/test_util/project_db.h"
#include "tests/test_util/status_matchers.h"
#include "tests/test_util/temp_dir.h"

namespace pulse::hierarchy {
namespace {

using ::testing::HasSubstr;

class SubtreeIndexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK(testing::MigrateToHead(db_path()));
    ASSERT_OK(seed::SeedOrganisation(db_path(), {2000, 5}));
    db_ = testing::OpenSqlite(db_path());
    store::OpenOptions read_only;
    read_only.read_only = true;
    pool_ = std::make_unique<store::ConnectionPool>(db_path(), read_only, 2);
  }

  std::string db_path() const { return dir_.Join("pulse.db"); }

  int64_t Generation() {
    return db_->execAndGet("SELECT token FROM org_path_generation").getInt64();
  }

  // Rows whose path is not their manager's path plus their own id.
  int64_t Inconsistent() {
    return db_
        ->execAndGet(
            "SELECT count(*) FROM employees e LEFT JOIN employees m ON m.id = "
            "e.manager_id WHERE e.org_path IS NOT coalesce(m.org_path, '') || "
            "printf('%08x', e.id)")
        .getInt64();
  }

  // The subtree (id, depth) read through the index, `chunk` nodes at a
  // time.
  std::vector<std::pair<int64_t, int>> Stream(int64_t root, int max_depth = 0,
                                              int64_t chunk = 1 << 30) {
    auto lease = pool_->Acquire();
    EXPECT_OK(lease);
    auto snapshot = Snapshot::Begin(*std::move(lease), &caches_);
    EXPECT_OK(snapshot);
    auto by_path = (*snapshot)->HasPathIndex();
    EXPECT_TRUE(by_path.ok() && *by_path);
    std::vector<std::pair<int64_t, int>> out;
    SubtreeRequest request;
    request.root_id = root;
    request.max_depth = max_depth;
    auto reader = (*snapshot)->OpenSubtree(request);
    EXPECT_OK(reader);
    if (!reader.ok()) return out;
    while (true) {
      size_t before = out.size();
      auto more = (*reader)->Next(chunk,
                                  [&](Employee& e) {
                                    out.emplace_back(e.id, e.depth);
                                    return true;
                                  },
                                  {});
      EXPECT_OK(more);
      if (!more.ok() || !*more) break;
      EXPECT_EQ(out.size() - before, static_cast<size_t>(chunk));
    }
    return out;
  }

  // The status of a whole read of the subtree under `root`.
  absl::StatusCode StreamStatus(int64_t root, int max_depth = 0) {
    auto lease = pool_->Acquire();
    EXPECT_OK(lease);
    auto snapshot = Snapshot::Begin(*std::move(lease), &caches_);
    EXPECT_OK(snapshot);
    if (!snapshot.ok()) return snapshot.status().code();
    SubtreeRequest request;
    request.root_id = root;
    request.max_depth = max_depth;
    return (*snapshot)
        ->StreamSubtree(
            request, [](Employee&) { return true; }, {}, nullptr)
        .code();
  }

  void ExpectMatchesReference() {
    EXPECT_EQ(Inconsistent(), 0);
    const auto tree = testing::OrgTree::Load(db_path());
    EXPECT_EQ(Stream(1), tree.Dfs(1, 0));
    const int64_t vp = tree.children.at(1).back();
    EXPECT_EQ(Stream(vp), tree.Dfs(vp, 0));
  }

  // Shared by every read, as the service shares its own.
  ReadCaches caches_;
  testing::TempDir dir_;
  std::unique_ptr<SQLite::Database> db_;
  std::unique_ptr<store::ConnectionPool> pool_;
};

TEST_F(SubtreeIndexTest, SeededPathsAreConsistent) { ExpectMatchesReference(); }

TEST_F(SubtreeIndexTest, DepthLimitedReadsSkipTheDeeperLevels) {
  const auto tree = testing::OrgTree::Load(db_path());
  const int64_t vp = tree.children.at(1).front();
  const int64_t director = tree.children.at(vp).back();
  for (int64_t root : {int64_t{1}, vp, director}) {
    for (int depth = 1; depth <= 6; ++depth) {
      EXPECT_EQ(Stream(root, depth), tree.Dfs(root, depth))
          << "root " << root << " depth " << depth;
    }
  }
}

TEST_F(SubtreeIndexTest, ChunkedReadsResumeWhereTheyStopped) {
  const auto tree = testing::OrgTree::Load(db_path());
  for (int64_t chunk : {1, 7, 64}) {
    EXPECT_EQ(Stream(1, 0, chunk), tree.Dfs(1, 0)) << "chunk " << chunk;
    EXPECT_EQ(Stream(1, 3, chunk), tree.Dfs(1, 3)) << "chunk " << chunk;
  }
}

TEST_F(SubtreeIndexTest, EveryConnectionReadsTheRightSubtreesAcrossAMove) {
  // Every manager read twice, the second time on another connection, must
  // match the plain walk; and after a move committed elsewhere, so must
  // reads on both connections.
  const auto tree = testing::OrgTree::Load(db_path());
  auto every_manager = [&](const testing::OrgTree& t) {
    int rooted = 0;
    for (const auto& [manager, reports] : t.children) {
      if (manager == 0 || reports.empty()) continue;  // 0: above the top.
      EXPECT_EQ(Stream(manager, 2), t.Dfs(manager, 2)) << "manager " << manager;
      ++rooted;
    }
    return rooted;
  };
  EXPECT_GT(every_manager(tree), 100);
  {
    auto first = pool_->Acquire();  // Held: the reads take the second.
    ASSERT_OK(first);
    every_manager(tree);
  }
  const int64_t from_vp = tree.children.at(1).front();
  const int64_t to_vp = tree.children.at(1).back();
  const int64_t director = tree.children.at(from_vp).front();
  db_->exec(absl::StrCat("UPDATE employees SET manager_id = ", to_vp,
                         " WHERE id = ", director));
  const auto moved = testing::OrgTree::Load(db_path());
  every_manager(moved);
  auto first = pool_->Acquire();
  ASSERT_OK(first);
  every_manager(moved);
}

TEST_F(SubtreeIndexTest, ThePathGenerationChangesWhenAPathMayChange) {
  const auto tree = testing::OrgTree::Load(db_path());
  const int64_t vp = tree.children.at(1).front();
  const int64_t other_vp = tree.children.at(1).back();
  const int64_t director = tree.children.at(vp).front();
  int64_t g = Generation();
  // A hire changes no existing path.
  db_->exec(
      "INSERT INTO employees (id, manager_id, full_name, title, email, "
      "hire_date) VALUES (900001, 1, 'New Hire', 'Engineer', "
      "'new.hire@example.com', '2026-12-01')");
  EXPECT_EQ(Generation(), g);
  // A move, a delete, and a report inserted before their manager do.
  db_->exec(absl::StrCat("UPDATE employees SET manager_id = ", other_vp,
                         " WHERE id = ", director));
  EXPECT_NE(Generation(), g);
  g = Generation();
  db_->exec("DELETE FROM employees WHERE id = 900001");
  EXPECT_NE(Generation(), g);
  g = Generation();
  db_->exec("BEGIN");
  db_->exec(
      "INSERT INTO employees (id, manager_id, full_name, title, email, "
      "hire_date) VALUES (900003, 900002, 'Report', 'Engineer', "
      "'report@example.com', '2026-12-01')");
  EXPECT_EQ(Generation(), g);
  db_->exec(
      "INSERT INTO employees (id, manager_id, full_name, title, email, "
      "hire_date) VALUES (900002, 1, 'Manager', 'Director', "
      "'manager@example.com', '2026-12-01')");
  db_->exec("COMMIT");
  EXPECT_NE(Generation(), g);
}

TEST_F(SubtreeIndexTest, RepairingTheIndexReplacesThePathGeneration) {
  const auto tree = testing::OrgTree::Load(db_path());
  const int64_t director =
      tree.children.at(tree.children.at(1).front()).front();
  ASSERT_EQ(Stream(director, 2), tree.Dfs(director, 2));
  db_->exec(absl::StrCat(
      "UPDATE employees SET org_path = 'ffffffff' || org_path WHERE id = ",
      director));
  const int64_t g = Generation();
  store::Database view(db_->getHandle());
  auto repaired = write::RepairIndex(view);
  ASSERT_OK(repaired);
  EXPECT_EQ(*repaired, 1);
  EXPECT_NE(Generation(), g);
  EXPECT_EQ(Stream(director, 2), tree.Dfs(director, 2));
}

TEST_F(SubtreeIndexTest, CheckedPathsStayRightAcrossHiresMovesAndReplaces) {
  // Reads share what they checked (caches_) while the generation holds;
  // every read must still match the plain walk after each kind of write.
  auto every_manager = [&] {
    const auto t = testing::OrgTree::Load(db_path());
    for (const auto& [manager, reports] : t.children) {
      if (manager == 0 || reports.empty()) continue;
      EXPECT_EQ(Stream(manager, 2), t.Dfs(manager, 2)) << "manager " << manager;
    }
  };
  every_manager();
  const auto tree = testing::OrgTree::Load(db_path());
  const int64_t vp = tree.children.at(1).front();
  const int64_t other_vp = tree.children.at(1).back();
  // A hire under a manager read before: the generation holds.
  const int64_t g = Generation();
  db_->exec(absl::StrCat(
      "INSERT INTO employees (id, manager_id, full_name, title, email, "
      "hire_date) VALUES (900001, ",
      vp, ", 'New Hire', 'Engineer', 'new.hire@example.com', '2026-12-01')"));
  EXPECT_EQ(Generation(), g);
  every_manager();
  ASSERT_EQ(Stream(900001).size(), 1u);  // Their path is now checked.
  // The hire replaced under the same id with another manager (no delete
  // trigger fires, and no other path changes): read rooted at them.
  db_->exec(absl::StrCat(
      "INSERT OR REPLACE INTO employees (id, manager_id, full_name, title, "
      "email, hire_date) VALUES (900001, ",
      other_vp,
      ", 'New Hire', 'Engineer', 'new.hire@example.com', '2026-12-01')"));
  EXPECT_EQ(Generation(), g);
  const auto replaced = testing::OrgTree::Load(db_path());
  EXPECT_EQ(StreamStatus(900001), absl::StatusCode::kOk);
  EXPECT_EQ(Stream(900001), replaced.Dfs(900001, 0));
  every_manager();
  // A move.
  db_->exec(absl::StrCat("UPDATE employees SET manager_id = ", other_vp,
                         " WHERE id = ", tree.children.at(vp).front()));
  every_manager();
}

TEST_F(SubtreeIndexTest, ARootWhoseRowIsOffItsPathIsDataLoss) {
  // A director's own path changed behind the triggers' back (the links
  // above their reports still give the old path): a read rooted at the
  // director must fail, before and after a read under them.
  const auto tree = testing::OrgTree::Load(db_path());
  const int64_t vp = tree.children.at(1).front();
  int64_t director = 0;
  int64_t below = 0;  // Two levels under the director.
  for (int64_t d : tree.children.at(vp)) {
    for (int64_t m : tree.children.at(d)) {
      if (tree.children.count(m) && !tree.children.at(m).empty()) {
        director = d;
        below = tree.children.at(m).front();
        break;
      }
    }
    if (director != 0) break;
  }
  ASSERT_NE(director, 0);
  db_->exec(absl::StrCat(
      "UPDATE employees SET org_path = 'ffffffff' || org_path WHERE id = ",
      director));
  // Read the director's row; then the path above `below`; then the
  // director's again.
  EXPECT_EQ(StreamStatus(director, 2), absl::StatusCode::kDataLoss);
  EXPECT_EQ(StreamStatus(below, 2), absl::StatusCode::kOk);
  EXPECT_EQ(StreamStatus(director, 2), absl::StatusCode::kDataLoss);
}

TEST_F(SubtreeIndexTest, AReportReadBeforeTheirManagerIsDataLoss) {
  // A director moved behind the triggers' back, their own path set and
  // their reports' left behind: the reports' rows still name them as
  // manager one component up, but in the index no row of theirs is there.
  // Reads that meet those rows must fail rather than stream reports
  // without (or before) their manager.
  const auto tree = testing::OrgTree::Load(db_path());
  const int64_t vp = tree.children.at(1).front();
  const auto& directors = tree.children.at(vp);
  ASSERT_GE(directors.size(), 2u);
  int64_t moved = 0;
  for (int64_t d : directors) {
    if (tree.children.count(d) && !tree.children.at(d).empty()) moved = d;
  }
  ASSERT_NE(moved, 0);
  const int64_t to =
      moved == directors.front() ? directors.back() : directors.front();
  db_->exec("DROP TRIGGER employees_org_path_move");
  db_->exec(absl::StrCat(
      "UPDATE employees SET manager_id = ", to,
      ", org_path = (SELECT org_path FROM employees WHERE id = ", to,
      ") || printf('%08x', id) WHERE id = ", moved));
  EXPECT_EQ(StreamStatus(vp), absl::StatusCode::kDataLoss);
  EXPECT_EQ(StreamStatus(vp, 2), absl::StatusCode::kDataLoss);
  EXPECT_EQ(StreamStatus(1), absl::StatusCode::kDataLoss);
  // The director's own new place is consistent.
  EXPECT_EQ(StreamStatus(to, 1), absl::StatusCode::kOk);
}

TEST_F(SubtreeIndexTest, PooledReadersSeeAMoveCommittedElsewhere) {
  // The pooled connection remembers facts between reads (schema, checked
  // paths); a commit by another connection must make it forget them.
  const auto tree = testing::OrgTree::Load(db_path());
  const int64_t from_vp = tree.children.at(1).front();
  const int64_t to_vp = tree.children.at(1).back();
  const int64_t director = tree.children.at(from_vp).front();
  const int64_t deep = tree.Dfs(director, 0).back().first;
  ASSERT_EQ(Stream(deep), tree.Dfs(deep, 0));
  ASSERT_EQ(Stream(director, 2), tree.Dfs(director, 2));
  db_->exec(absl::StrCat("UPDATE employees SET manager_id = ", to_vp,
                         " WHERE id = ", director));
  const auto moved = testing::OrgTree::Load(db_path());
  EXPECT_EQ(Stream(deep), moved.Dfs(deep, 0));
  EXPECT_EQ(Stream(to_vp, 2), moved.Dfs(to_vp, 2));
  EXPECT_EQ(Stream(from_vp, 2), moved.Dfs(from_vp, 2));
  // A checked manager moved behind the index's back (trigger dropped) is
  // caught at once, not hidden by what the connection remembered.
  db_->exec("DROP TRIGGER employees_org_path_move");
  db_->exec(absl::StrCat("UPDATE employees SET manager_id = ", from_vp,
                         " WHERE id = ", to_vp));
  EXPECT_EQ(StreamStatus(director), absl::StatusCode::kDataLoss);
}

TEST_F(SubtreeIndexTest, MovingAManagerMovesTheirSubtree) {
  const auto tree = testing::OrgTree::Load(db_path());
  const int64_t from_vp = tree.children.at(1).front();
  const int64_t to_vp = tree.children.at(1).back();
  const int64_t director = tree.children.at(from_vp).front();
  const size_t moved = tree.Dfs(director, 0).size();
  db_->exec(absl::StrCat("UPDATE employees SET manager_id = ", to_vp,
                         " WHERE id = ", director));
  ExpectMatchesReference();
  EXPECT_EQ(Stream(to_vp).size(), tree.Dfs(to_vp, 0).size() + moved);
}

TEST_F(SubtreeIndexTest, MoveUnderOwnReportIsRefusedAndChangesNothing) {
  const auto tree = testing::OrgTree::Load(db_path());
  const int64_t vp = tree.children.at(1).front();
  const int64_t report = tree.Dfs(vp, 0).back().first;
  try {
    db_->exec(absl::StrCat("UPDATE employees SET manager_id = ", report,
                           " WHERE id = ", vp));
    ADD_FAILURE() << "the move was accepted";
  } catch (const SQLite::Exception& e) {
    EXPECT_THAT(e.what(), HasSubstr("who is in their subtree"));
  }
  EXPECT_EQ(testing::OrgTree::Load(db_path()).manager, tree.manager);
  ExpectMatchesReference();
}

TEST_F(SubtreeIndexTest, InsertsAndDeletesKeepTheIndexRight) {
  const auto tree = testing::OrgTree::Load(db_path());
  const int64_t leaf = tree.Dfs(1, 0).back().first;
  db_->exec(absl::StrCat(
      "INSERT INTO employees (id, manager_id, full_name, email, hire_date) "
      "VALUES (900001, ",
      leaf, ", 'New Hire', 'new@x', '2026-11-24')"));
  ExpectMatchesReference();
  EXPECT_EQ(Stream(leaf).size(), 2u);

  // A leaf leaves; then a manager leaves after their reports move up.
  db_->exec("DELETE FROM employees WHERE id = 900001");
  const int64_t vp = tree.children.at(1).front();
  const int64_t director = tree.children.at(vp).front();
  db_->exec(absl::StrCat(
      "BEGIN; UPDATE departments SET head_employee_id = NULL WHERE "
      "head_employee_id = ",
      director, "; UPDATE employees SET manager_id = ", vp,
      " WHERE manager_id = ", director,
      "; DELETE FROM employees WHERE id = ", director, "; COMMIT;"));
  ExpectMatchesReference();
}

TEST_F(SubtreeIndexTest, ReportsInsertedBeforeTheirManagerAreAdopted) {
  db_->exec(
      "BEGIN;"
      "INSERT INTO employees (id, manager_id, full_name, email, hire_date) "
      "VALUES (900003, 900002, 'Grandchild', 'g@x', '2026-01-01'),"
      "(900002, 900001, 'Child', 'c@x', '2026-01-01'),"
      "(900001, 1, 'Parent', 'p@x', '2026-01-01');"
      "COMMIT;");
  ExpectMatchesReference();
  EXPECT_EQ(Stream(900001), (std::vector<std::pair<int64_t, int>>{
                                {900001, 0}, {900002, 1}, {900003, 2}}));
}

TEST_F(SubtreeIndexTest, IdsCannotChange) {
  EXPECT_THROW(db_->exec("UPDATE employees SET id = 999999 WHERE id = 1"),
               SQLite::Exception);
  ExpectMatchesReference();
}

// Summaries read through the index equal those of a plain walk over
// manager_id, for many roots and depth limits (ties for the widest span to
// the manager first in breadth-first order).
TEST_F(SubtreeIndexTest, SummariesMatchAReferenceForManyRootsAndDepths) {
  const auto tree = testing::OrgTree::Load(db_path());
  std::vector<int64_t> roots = {1};
  std::mt19937_64 rng(3);
  std::vector<int64_t> managers;
  for (const auto& [m, kids] : tree.children) {
    if (m != 0) managers.push_back(m);
  }
  for (int i = 0; i < 40; ++i)
    roots.push_back(managers[rng() % managers.size()]);
  for (int64_t root : roots) {
    for (int max_depth : {0, 1, 2, 3}) {
      const auto bfs = tree.Bfs(root, max_depth);
      Summary expected;
      expected.headcount = static_cast<int64_t>(bfs.size());
      std::map<int64_t, int64_t> reports;
      for (const auto& [id, depth] : bfs) {
        expected.depth = std::max(expected.depth, depth);
        if (depth > 0) ++reports[tree.manager.at(id)];
      }
      for (const auto& [id, depth] : bfs) {
        auto it = reports.find(id);
        if (it != reports.end() && it->second > expected.widest_span) {
          expected.widest_span = it->second;
          expected.widest_span_manager_id = id;
        }
      }
      auto lease = pool_->Acquire();
      ASSERT_OK(lease);
      auto snapshot = Snapshot::Begin(*std::move(lease));
      ASSERT_OK(snapshot);
      auto got = (*snapshot)->Summarize(root, max_depth, {});
      ASSERT_OK(got);
      EXPECT_EQ(got->headcount, expected.headcount) << root << "/" << max_depth;
      EXPECT_EQ(got->depth, expected.depth) << root << "/" << max_depth;
      EXPECT_EQ(got->widest_span, expected.widest_span)
          << root << "/" << max_depth;
      EXPECT_EQ(got->widest_span_manager_id, expected.widest_span_manager_id)
          << root << "/" << max_depth;
    }
  }
}

}  // namespace
}  // namespace pulse::hierarchy
