// pulse-schema backup while both services serve and a writer commits, and
// pulse-schema restore into the live database, which the services then
// serve exactly, with no restart.

#include <signal.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "SQLiteCpp/SQLiteCpp.h"
#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/seed/seed.h"
#include "tests/test_util/migrations.h"
#include "tests/test_util/project_db.h"
#include "tests/test_util/status_matchers.h"
#include "tests/test_util/subprocess.h"
#include "tests/test_util/temp_dir.h"

namespace pulse {
namespace {

using ::testing::HasSubstr;
using testing::RunProcess;
using testing::RunResult;

class BackupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK(testing::MigrateToHead(db_path()));
    seed::SeedOptions seed;
    seed.employees = 20000;
    ASSERT_OK(seed::SeedOrganisation(db_path(), seed));
  }

  std::unique_ptr<testing::Subprocess> StartOrgData() {
    auto org = testing::Subprocess::Start(
        {PULSE_ORGDATA_BIN, "serve", "--listen=127.0.0.1:0",
         "--db=" + db_path()},
        dir_.path());
    EXPECT_OK(org);
    auto port = testing::WaitForListeningPort(**org, absl::Seconds(20));
    EXPECT_TRUE(port.has_value());
    address_ = absl::StrCat("127.0.0.1:", port.value_or(0));
    return *std::move(org);
  }

  std::string Export(const std::string& db) {
    RunResult out =
        RunProcess({PULSE_ORGDATA_BIN, "export", "--db=" + db}, dir_.path());
    EXPECT_EQ(out.exit_code, 0) << out.err;
    return out.out;
  }

  // pulse-schema backup of the live database to `to`.
  void Backup(const std::string& to) {
    RunResult taken = RunProcess(
        {PULSE_SCHEMA_BIN, "backup", "--db=" + db_path(), "--to=" + to},
        dir_.path());
    ASSERT_EQ(taken.exit_code, 0) << taken.err;
  }

  // pulse employee 1 against the org-data service.
  RunResult Employee1() {
    return RunProcess({PULSE_CLIENT_BIN, "employee", "1", "--addr=" + address_},
                      dir_.path());
  }

  int64_t Count(const std::string& db) {
    SQLite::Database d(db, SQLite::OPEN_READONLY);
    return d.execAndGet("SELECT count(*) FROM employees").getInt64();
  }

  std::string db_path() const { return dir_.Join("pulse.db"); }
  testing::TempDir dir_;
  std::string address_;
};

TEST_F(BackupTest, ABackupWhileServingRestoresIntoTheLiveDatabaseExactly) {
  auto org = StartOrgData();
  auto schema = testing::Subprocess::Start(
      {PULSE_SCHEMA_BIN, "serve", "--listen=127.0.0.1:0", "--db=" + db_path(),
       "--migrations=" + testing::ProjectMigrations()},
      dir_.path());
  ASSERT_OK(schema);
  ASSERT_TRUE(testing::WaitForListeningPort(**schema, absl::Seconds(20)));

  // A plain-SQL writer commits new employees one by one throughout.
  const int64_t before = Count(db_path());
  std::atomic<bool> stop{false};
  std::atomic<int64_t> committed{0};
  std::thread writer([&] {
    SQLite::Database db(db_path(), SQLite::OPEN_READWRITE);
    db.setBusyTimeout(5000);
    for (int64_t id = 1000000; !stop; ++id) {
      db.exec(absl::StrCat(
          "INSERT INTO employees (id, manager_id, full_name, email, "
          "hire_date) VALUES (",
          id, ", 1, 'New ", id, "', 'new", id, "@x', '2024-01-01')"));
      ++committed;
    }
  });
  ASSERT_TRUE(testing::WaitFor([&] { return committed > 20; }));
  const std::string backup = dir_.Join("pulse-backup.db");
  RunResult taken = RunProcess(
      {PULSE_SCHEMA_BIN, "backup", "--db=" + db_path(), "--to=" + backup},
      dir_.path());
  ASSERT_TRUE(testing::WaitFor([&] { return committed > 60; }));
  stop = true;
  writer.join();
  ASSERT_EQ(taken.exit_code, 0) << taken.err;
  EXPECT_THAT(taken.out, HasSubstr("backed up"));

  // One committed state: whole, consistent, between the first and last.
  {
    SQLite::Database copy(backup, SQLite::OPEN_READONLY);
    EXPECT_EQ(copy.execAndGet("PRAGMA integrity_check").getString(), "ok");
  }
  RunResult valid = RunProcess({PULSE_SCHEMA_BIN, "validate", "--db=" + backup,
                                "--migrations=" + testing::ProjectMigrations()},
                               dir_.path());
  EXPECT_EQ(valid.exit_code, 0) << valid.out << valid.err;
  const int64_t in_backup = Count(backup);
  EXPECT_GT(in_backup, before);
  EXPECT_LT(in_backup, before + committed);
  const std::string backed_up = Export(backup);
  EXPECT_NE(Export(db_path()), backed_up);

  // Restore into the live database while both services serve: the
  // org-data service serves exactly the backed-up state, with no restart.
  RunResult restored = RunProcess(
      {PULSE_SCHEMA_BIN, "restore", "--db=" + db_path(), "--from=" + backup},
      dir_.path());
  ASSERT_EQ(restored.exit_code, 0) << restored.err;
  EXPECT_THAT(restored.out, HasSubstr("restored"));
  EXPECT_EQ(Export(db_path()), backed_up);
  // Readers key what they checked of the paths by the path generation
  // token: the restored data comes with a new one.
  auto token = [](const std::string& path) {
    SQLite::Database db(path, SQLite::OPEN_READONLY);
    return db.execAndGet("SELECT token FROM org_path_generation").getInt64();
  };
  EXPECT_NE(token(db_path()), token(backup));
  RunResult tree = RunProcess(
      {PULSE_CLIENT_BIN, "tree", "1", "--format=json", "--addr=" + address_},
      dir_.path());
  ASSERT_EQ(tree.exit_code, 0) << tree.err;
  EXPECT_EQ(std::count(tree.out.begin(), tree.out.end(), '\n'), in_backup);
  {
    SQLite::Database live(db_path(), SQLite::OPEN_READONLY);
    EXPECT_EQ(live.execAndGet("PRAGMA integrity_check").getString(), "ok");
  }
  (*schema)->Signal(SIGTERM);
  EXPECT_EQ((*schema)->Wait(absl::Seconds(20)), 0);
  org->Signal(SIGTERM);
  EXPECT_EQ(org->Wait(absl::Seconds(20)), 0);
}

// A backup put back by renaming it over the served file (as an operator
// might, while the service runs): the service serves exactly the backup, but
// not while another process still has the old file open, since the old file's
// log at the path would be read as the new file's.
TEST_F(BackupTest, ABackupRenamedOverTheServedFileIsServedOnceTheOldIsClosed) {
  auto org = StartOrgData();
  const std::string backup = dir_.Join("pulse-backup.db");
  Backup(backup);
  if (HasFatalFailure()) return;
  const std::string backed_up = Export(backup);
  ASSERT_EQ(Employee1().exit_code, 0);

  // The live file moves on; this process keeps a connection to it open.
  auto holder =
      std::make_unique<SQLite::Database>(db_path(), SQLite::OPEN_READWRITE);
  holder->exec("UPDATE employees SET full_name = 'Changed' WHERE id = 1");
  std::filesystem::rename(backup, db_path());
  RunResult refused;
  EXPECT_TRUE(testing::WaitFor([&] {
    refused = Employee1();
    return refused.exit_code != 0 &&
           absl::StrContains(refused.err,
                             "another process still has the old file open");
  })) << refused.out
      << refused.err;

  holder.reset();
  RunResult served;
  EXPECT_TRUE(testing::WaitFor([&] {
    served = Employee1();
    return served.exit_code == 0;
  })) << served.err;
  EXPECT_THAT(served.out, ::testing::Not(HasSubstr("Changed")));
  RunResult tree = RunProcess(
      {PULSE_CLIENT_BIN, "tree", "1", "--format=json", "--addr=" + address_},
      dir_.path());
  ASSERT_EQ(tree.exit_code, 0) << tree.err;
  EXPECT_EQ(std::count(tree.out.begin(), tree.out.end(), '\n'),
            Count(db_path()));
  EXPECT_TRUE(Export(db_path()) == backed_up) << "the live file differs";
  {
    SQLite::Database live(db_path(), SQLite::OPEN_READONLY);
    EXPECT_EQ(live.execAndGet("PRAGMA integrity_check").getString(), "ok");
  }
  org->Signal(SIGTERM);
  EXPECT_EQ(org->Wait(absl::Seconds(20)), 0);
}

// If another process opens the new file while the old file's log is still
// beside it, that process may have read the old pages as the new file's:
// the service does not move on silently, it refuses, naming what to do.
TEST_F(BackupTest, ARenamedFileOpenedElsewhereTooSoonIsRefusedNotServed) {
  auto org = StartOrgData();
  const std::string backup = dir_.Join("pulse-backup.db");
  Backup(backup);
  if (HasFatalFailure()) return;
  ASSERT_EQ(Employee1().exit_code, 0);
  // This process holds the old file (so the service waits), renames the
  // backup over it and opens the new file too, then lets the old one go.
  auto old_file =
      std::make_unique<SQLite::Database>(db_path(), SQLite::OPEN_READONLY);
  old_file->execAndGet("SELECT count(*) FROM employees");
  std::filesystem::rename(backup, db_path());
  SQLite::Database new_file(db_path(), SQLite::OPEN_READONLY);
  new_file.execAndGet("SELECT count(*) FROM employees");  // Locks it.
  RunResult refused;
  EXPECT_TRUE(testing::WaitFor([&] {
    refused = Employee1();
    return absl::StrContains(refused.err, "still has the old file open");
  })) << refused.err;
  old_file.reset();
  EXPECT_TRUE(testing::WaitFor([&] {
    refused = Employee1();
    return absl::StrContains(refused.err, "opened the new file");
  })) << refused.err;
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_THAT(refused.err, HasSubstr("'pulse-schema validate'"));
  org->Signal(SIGTERM);
  EXPECT_EQ(org->Wait(absl::Seconds(20)), 0);
}

}  // namespace
}  // namespace pulse
