// The org-data writer keeps the write-ahead log bounded when large writes
// follow one another closely (each beginning while the checkpoint of the
// last one runs, which without the bound never lets the log start over).

#include "services/orgdata/writer.h"

#include <sys/stat.h>

#include <algorithm>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "libs/migrate/revision_gate.h"
#include "libs/seed/seed.h"
#include "libs/store/store.h"
#include "tests/test_util/migrations.h"
#include "tests/test_util/project_db.h"
#include "tests/test_util/status_matchers.h"
#include "tests/test_util/temp_dir.h"

namespace pulse::orgdata {
namespace {

int64_t FileSize(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? st.st_size : 0;
}

// A seeded organisation of 20,000: the head of the largest subtree under
// the top (`moved`), reporting to the top, and the head of the next
// largest (`elsewhere`), to move it under and back.
struct LargeMove {
  int64_t moved = 0;
  int64_t elsewhere = 0;
};
LargeMove SeedForALargeMove(const std::string& db) {
  EXPECT_OK(testing::MigrateToHead(db));
  EXPECT_OK(seed::SeedOrganisation(db, {20000, 3}));
  auto conn = testing::OpenSqlite(db);
  SQLite::Statement q(*conn,
                      "SELECT e.id, (SELECT count(*) FROM employees c WHERE "
                      "c.org_path >= e.org_path AND c.org_path < e.org_path "
                      "|| 'g') AS n FROM employees e WHERE e.manager_id = 1 "
                      "ORDER BY n DESC LIMIT 2");
  LargeMove out;
  if (q.executeStep()) out.moved = q.getColumn(0).getInt64();
  if (q.executeStep()) out.elsewhere = q.getColumn(0).getInt64();
  EXPECT_GT(out.elsewhere, 0) << "the seed has two subtrees under the top";
  return out;
}

TEST(WriterTest, BackToBackLargeWritesKeepTheLogBounded) {
  testing::TempDir dir;
  const std::string db = dir.Join("pulse.db");
  const auto [moved, elsewhere] = SeedForALargeMove(db);
  ASSERT_GT(elsewhere, 0);
  const int64_t manager = 1;
  // The initial revision: every later one is non-breaking.
  migrate::RevisionGate gate("a1c3f0d2b7e4", nullptr);
  // A bound of 200 pages, below one move.
  store::ConnectionPool pool(db, {}, 1);
  Writer writer(&pool, &gate, /*wal_frames_before_wait=*/200);
  const std::string wal = db + "-wal";
  int64_t one_move = 0, largest = 0;
  for (int i = 0; i < 40; ++i) {
    write::MoveEmployee move;
    move.id = moved;
    move.new_manager_id = i % 2 == 0 ? elsewhere : manager;
    auto applied = writer.ApplyChanges({move}, false);
    ASSERT_OK(applied);
    if (i == 0) one_move = FileSize(wal);
    largest = std::max(largest, FileSize(wal));
  }
  ASSERT_GT(one_move, 200 * 4096) << "the move must outgrow the bound";
  // At most the bound plus the write that crossed it plus the next one.
  EXPECT_LE(largest, 3 * one_move) << "the log grew to " << largest
                                   << " bytes; one move writes " << one_move;
}

// The log's file goes back to the bound once the log starts over after a
// burst larger than it, instead of keeping the burst's size until the last
// connection closes.
TEST(WriterTest, TheLogFileShrinksBackAfterABurst) {
  testing::TempDir dir;
  const std::string db = dir.Join("pulse.db");
  const auto [moved, elsewhere] = SeedForALargeMove(db);
  ASSERT_GT(elsewhere, 0);
  const int64_t leaf =
      testing::OpenSqlite(db)
          ->execAndGet(
              "SELECT id FROM employees e WHERE NOT EXISTS (SELECT 1 FROM "
              "employees c WHERE c.manager_id = e.id) LIMIT 1")
          .getInt64();
  migrate::RevisionGate gate("a1c3f0d2b7e4", nullptr);
  store::ConnectionPool pool(db, {}, 1);
  constexpr int kBound = 200;
  Writer writer(&pool, &gate, kBound);
  const std::string wal = db + "-wal";
  write::MoveEmployee move;
  move.id = moved;
  move.new_manager_id = elsewhere;
  auto applied = writer.ApplyChanges({move}, false);
  ASSERT_OK(applied);
  ASSERT_GT(FileSize(wal), 2 * kBound * 4096) << "the move must outgrow it";
  // Until the whole log is in the file (here or by the writer's own
  // checkpointer, which may hold the checkpoint lock meanwhile), so that
  // the next write starts it over.
  {
    auto conn = testing::OpenSqlite(db);
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    bool whole = false;
    while (!whole && absl::Now() < deadline) {
      SQLite::Statement checkpoint(*conn, "PRAGMA wal_checkpoint(PASSIVE)");
      ASSERT_TRUE(checkpoint.executeStep());
      whole = checkpoint.getColumn(0).getInt64() == 0 &&
              checkpoint.getColumn(1).getInt64() > 0 &&
              checkpoint.getColumn(1).getInt64() ==
                  checkpoint.getColumn(2).getInt64();
      if (!whole) absl::SleepFor(absl::Milliseconds(10));
    }
    ASSERT_TRUE(whole) << "the log was not checkpointed within 30 s";
  }
  write::MoveEmployee small;
  small.id = leaf;
  small.new_manager_id = 1;
  applied = writer.ApplyChanges({small}, false);
  ASSERT_OK(applied);
  EXPECT_LE(FileSize(wal), kBound * 4096);
}

// A backlog of the change log past retention (here after a large import
// a week ago) goes in batches, each its own transaction, until none is
// left; a server shutting down does not wait for it: pruning stops
// between batches once asked to, and the rest stays for the next start.
TEST(WriterTest, PruningClearsABacklogInBatchesAndStopsBetweenThemWhenAsked) {
  testing::TempDir dir;
  const std::string db = dir.Join("pulse.db");
  ASSERT_OK(testing::MigrateToHead(db));
  auto conn = testing::OpenSqlite(db);
  conn->exec(
      "INSERT INTO change_log (at_ms, kind, id) "
      "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
      "WHERE i < 25000) SELECT 1000, 'employee_added', i FROM n");
  conn->exec("INSERT INTO change_log (kind, id) VALUES ('employee_added', 1)");
  auto rows = [&] {
    return conn->execAndGet("SELECT count(*) FROM change_log").getInt64();
  };
  migrate::RevisionGate gate("a1c3f0d2b7e4", nullptr);
  store::ConnectionPool pool(db, {}, 1);
  Writer writer(&pool, &gate);
  const int64_t an_hour_ago = absl::ToUnixMillis(absl::Now() - absl::Hours(1));

  int asked = 0;
  auto pruned =
      writer.PruneChangeLog(an_hour_ago, 10000000, [&] { return asked++ > 0; });
  ASSERT_OK(pruned);
  EXPECT_EQ(*pruned, 10000);
  EXPECT_EQ(rows(), 15001);

  pruned = writer.PruneChangeLog(an_hour_ago, 10000000);
  ASSERT_OK(pruned);
  EXPECT_EQ(*pruned, 15000);
  EXPECT_EQ(rows(), 1);
}

}  // namespace
}  // namespace pulse::orgdata
