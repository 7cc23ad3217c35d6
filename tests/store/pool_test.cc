// The connection pool's commit versions: what every connection of a pool
// reads as the same committed state, and what tells a commit apart.

#include "libs/store/pool.h"

#include "gtest/gtest.h"
#include "tests/test_util/status_matchers.h"
#include "tests/test_util/temp_dir.h"

namespace pulse::store {
namespace {

class PoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = Open(path(), OpenOptions());  // A writer: WAL mode.
    ASSERT_OK(db);
    writer_ = *std::move(db);
    writer_->exec("CREATE TABLE t (x INTEGER)");
  }

  std::string path() const { return dir_.Join("pool.db"); }

  std::unique_ptr<ConnectionPool> ReadPool() {
    OpenOptions read_only;
    read_only.read_only = true;
    return std::make_unique<ConnectionPool>(path(), read_only, 2);
  }

  // Begins a read on `lease` and ends it at once.
  Connection::ReadSnapshot Read(ConnectionPool::Lease& lease) {
    Connection::ReadSnapshot snapshot = lease->BeginRead();
    lease->Prepare("COMMIT").exec();
    return snapshot;
  }

  testing::TempDir dir_;
  std::unique_ptr<SQLite::Database> writer_;
};

TEST_F(PoolTest, EveryConnectionReadsTheSameCommitVersion) {
  auto pool = ReadPool();
  auto a = pool->Acquire();
  auto b = pool->Acquire();  // A second connection: `a` is still leased.
  ASSERT_OK(a);
  ASSERT_OK(b);
  const auto in_a = Read(*a);
  const auto in_b = Read(*b);
  ASSERT_TRUE(in_a.commit.has_value());
  ASSERT_TRUE(in_b.commit.has_value());
  EXPECT_EQ(*in_a.commit, *in_b.commit);
  EXPECT_EQ(*Read(*a).commit, *in_a.commit);  // Nothing committed since.
}

TEST_F(PoolTest, EachCommitGivesANewCommitVersion) {
  auto pool = ReadPool();
  auto a = pool->Acquire();
  auto b = pool->Acquire();
  ASSERT_OK(a);
  ASSERT_OK(b);
  const CommitVersion before = *Read(*a).commit;
  // A snapshot begun before the commit keeps its version.
  const Connection::ReadSnapshot open = (*b)->BeginRead();
  writer_->exec("INSERT INTO t VALUES (1)");
  const CommitVersion after = *Read(*a).commit;
  EXPECT_NE(after, before);
  EXPECT_EQ(*open.commit, before);
  (*b)->Prepare("COMMIT").exec();
  EXPECT_EQ(*Read(*b).commit, after);
  writer_->exec("INSERT INTO t VALUES (2)");
  EXPECT_NE(*Read(*b).commit, after);
  EXPECT_EQ(*Read(*a).commit, *Read(*b).commit);
}

TEST_F(PoolTest, AFileNotInWalModeHasNoCommitVersion) {
  writer_->exec("PRAGMA journal_mode = DELETE");
  auto pool = ReadPool();
  auto a = pool->Acquire();
  ASSERT_OK(a);
  EXPECT_FALSE(Read(*a).commit.has_value());
}

TEST_F(PoolTest, ClearingThePoolStartsANewEpoch) {
  auto pool = ReadPool();
  CommitVersion before;
  {
    auto a = pool->Acquire();
    ASSERT_OK(a);
    before = *Read(*a).commit;
  }
  pool->Clear();
  auto a = pool->Acquire();
  ASSERT_OK(a);
  const CommitVersion after = *Read(*a).commit;
  EXPECT_NE(after.epoch, before.epoch);
  EXPECT_EQ(after.wal_index_header, before.wal_index_header);
}

TEST_F(PoolTest, AConnectionBackInThePoolHoldsNoSnapshot) {
  // A statement left in the middle of its rows keeps a read snapshot open,
  // which would keep a checkpoint from finishing; returning the connection
  // resets it.
  writer_->exec("INSERT INTO t VALUES (1), (2)");
  auto pool = ReadPool();
  writer_->setBusyTimeout(0);  // A blocked checkpoint says so at once.
  auto checkpoint_blocked = [this] {
    SQLite::Statement q(*writer_, "PRAGMA wal_checkpoint(TRUNCATE)");
    EXPECT_TRUE(q.executeStep());
    return q.getColumn(0).getInt() != 0;  // 1: SQLITE_BUSY.
  };
  {
    auto lease = pool->Acquire();
    ASSERT_OK(lease);
    SQLite::Statement& rows = (*lease)->Prepare("SELECT x FROM t");
    ASSERT_TRUE(rows.executeStep());
    auto raw = (*lease)->PrepareRaw("SELECT x FROM t ORDER BY x DESC");
    ASSERT_OK(raw);
    ASSERT_EQ(sqlite3_step(*raw), SQLITE_ROW);
    writer_->exec("INSERT INTO t VALUES (3)");
    EXPECT_TRUE(checkpoint_blocked());
  }
  writer_->exec("INSERT INTO t VALUES (4)");
  EXPECT_FALSE(checkpoint_blocked());
}

TEST_F(PoolTest, SharedObjectsAreOnePerPool) {
  auto pool = ReadPool();
  auto other = ReadPool();
  EXPECT_EQ(&pool->Shared<std::string>(), &pool->Shared<std::string>());
  EXPECT_NE(&pool->Shared<std::string>(), &other->Shared<std::string>());
}

}  // namespace
}  // namespace pulse::store
