// The connection pool: connections return to it holding no snapshot, and
// each snapshot's data version tells whether another connection committed.

#include "libs/store/pool.h"

#include <atomic>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
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
    ASSERT_OK(writer_->Exec("CREATE TABLE t (x INTEGER)"));
  }

  std::string path() const { return dir_.Join("pool.db"); }

  std::unique_ptr<ConnectionPool> ReadPool() {
    OpenOptions read_only;
    read_only.read_only = true;
    return std::make_unique<ConnectionPool>(path(), read_only, 2);
  }

  // Begins a read on `lease` and ends it at once.
  Connection::ReadSnapshot Read(ConnectionPool::Lease& lease) {
    absl::StatusOr<Connection::ReadSnapshot> snapshot = lease->BeginRead();
    EXPECT_OK(snapshot);
    auto commit = lease->Prepare("COMMIT");
    EXPECT_OK(commit);
    if (commit.ok()) {
      EXPECT_OK((*commit)->Run());
    }
    return snapshot.value_or(Connection::ReadSnapshot());
  }

  testing::TempDir dir_;
  std::unique_ptr<Database> writer_;
};

TEST_F(PoolTest, TheDataVersionChangesWithEachCommitOfAnotherConnection) {
  auto pool = ReadPool();
  auto a = pool->Acquire();
  ASSERT_OK(a);
  const int64_t before = Read(*a).data_version;
  EXPECT_EQ(Read(*a).data_version, before);  // Nothing committed since.
  EXPECT_OK(writer_->Exec("INSERT INTO t VALUES (1)"));
  EXPECT_NE(Read(*a).data_version, before);
}

// Facts a layer keeps per connection serve that connection alone, and only
// while no other connection commits.
TEST_F(PoolTest, AConnectionMemoKeepsFactsPerConnectionUntilAnotherCommits) {
  auto pool = ReadPool();
  auto a = pool->Acquire();
  auto b = pool->Acquire();
  ASSERT_OK(a);
  ASSERT_OK(b);
  ASSERT_NE((*a)->serial(), (*b)->serial());
  ConnectionMemo<std::string> memo;
  const int64_t a_version = Read(*a).data_version;
  memo.Put(**a, a_version, std::make_shared<const std::string>("a's facts"));
  auto kept = memo.Find(**a, Read(*a).data_version);
  ASSERT_NE(kept, nullptr);
  EXPECT_EQ(*kept, "a's facts");
  EXPECT_EQ(memo.Find(**b, Read(*b).data_version), nullptr);
  EXPECT_OK(writer_->Exec("INSERT INTO t VALUES (1)"));
  EXPECT_EQ(memo.Find(**a, Read(*a).data_version), nullptr);
}

// Many threads leasing, reading, remembering and returning connections
// while a writer commits: every lease gets a connection, and what each
// remembers is its own (run under ThreadSanitizer by scripts/tsan.sh).
TEST_F(PoolTest, ManyThreadsShareThePoolAndAMemo) {
  auto pool = ReadPool();
  ConnectionMemo<int64_t> memo;
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int i = 0; !stop; ++i) {
      EXPECT_OK(writer_->Exec(absl::StrCat("INSERT INTO t VALUES (", i, ")")));
    }
  });
  std::vector<std::thread> readers;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 8; ++t) {
    readers.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        auto lease = pool->Acquire();
        if (!lease.ok()) {
          ++wrong;
          continue;
        }
        const int64_t version = Read(*lease).data_version;
        const int64_t serial = static_cast<int64_t>((*lease)->serial());
        if (auto kept = memo.Find(**lease, version)) {
          if (*kept != serial) ++wrong;
        } else {
          memo.Put(**lease, version, std::make_shared<const int64_t>(serial));
        }
      }
    });
  }
  for (std::thread& t : readers) t.join();
  stop = true;
  writer.join();
  EXPECT_EQ(wrong, 0);
}

TEST_F(PoolTest, AConnectionBackInThePoolHoldsNoSnapshot) {
  // A statement left in the middle of its rows keeps a read snapshot open,
  // which would keep a checkpoint from finishing; returning the connection
  // resets it.
  EXPECT_OK(writer_->Exec("INSERT INTO t VALUES (1), (2)"));
  auto pool = ReadPool();
  // A blocked checkpoint says so at once.
  sqlite3_busy_timeout(writer_->handle(), 0);
  auto checkpoint_blocked = [this] {
    auto busy = writer_->SelectInt("PRAGMA wal_checkpoint(TRUNCATE)");
    EXPECT_OK(busy);
    return busy.value_or(0) != 0;  // 1: SQLITE_BUSY.
  };
  {
    auto lease = pool->Acquire();
    ASSERT_OK(lease);
    auto rows = (*lease)->Prepare("SELECT x FROM t");
    ASSERT_OK(rows);
    auto row = (*rows)->Step();
    ASSERT_OK(row);
    ASSERT_TRUE(*row);
    EXPECT_OK(writer_->Exec("INSERT INTO t VALUES (3)"));
    EXPECT_TRUE(checkpoint_blocked());
  }
  EXPECT_OK(writer_->Exec("INSERT INTO t VALUES (4)"));
  EXPECT_FALSE(checkpoint_blocked());
}

}  // namespace
}  // namespace pulse::store
