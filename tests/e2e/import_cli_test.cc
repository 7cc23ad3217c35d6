// Runs the real pulse-orgdata import and export commands.

#include <signal.h>
#include <sys/stat.h>

#include "SQLiteCpp/SQLiteCpp.h"
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

class ImportCliTest : public ::testing::Test {
 protected:
  std::string Migrated(const std::string& name) {
    const std::string path = dir_.Join(name);
    EXPECT_OK(testing::MigrateToHead(path));
    return path;
  }

  RunResult Orgdata(std::vector<std::string> args) {
    std::vector<std::string> argv = {PULSE_ORGDATA_BIN};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunProcess(argv, dir_.path(), {}, absl::Seconds(120));
  }

  testing::TempDir dir_;
};

TEST_F(ImportCliTest, ExitCodesAndErrorLinesAreWhatTheReadmeSays) {
  const std::string db = Migrated("pulse.db");
  const std::string file = dir_.Join("people.csv");
  testing::WriteFile(file,
                     "id,manager_id,full_name,title,email,department,"
                     "hire_date,notes\n"
                     "1,,Ada,CEO,ada@x,,2020-01-01,\n"
                     "2,1,Bo,,bo@x,,not-a-date,\n"
                     "3,2,Cy,,ada@x,,2020-01-01,\n");
  RunResult bad = Orgdata({"import", "--db=" + db, "--file=" + file});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_THAT(bad.err, HasSubstr(file + ":3: hire_date: 'not-a-date'"));
  EXPECT_THAT(bad.err, HasSubstr(file + ":2: email: duplicate email 'ada@x' "
                                        "(lines 2, 4)"));
  EXPECT_EQ(Orgdata({"import", "--db=" + db}).exit_code, 2);
  EXPECT_EQ(
      Orgdata({"import", "--db=" + db, "--file=" + file, "--mode=sideways"})
          .exit_code,
      2);
  EXPECT_EQ(Orgdata({"import", "--db=" + db, "--file=people.txt"}).exit_code,
            2);
  testing::WriteFile(file,
                     "id,manager_id,full_name,title,email,department,"
                     "hire_date,notes\n"
                     "2,1,Bo,,bo@x,Sales,2021-01-01,\n"
                     "1,,Ada,CEO,ada@x,,2020-01-01,\n");
  RunResult good = Orgdata({"import", "--db=" + db, "--file=" + file});
  EXPECT_EQ(good.exit_code, 0) << good.err;
  EXPECT_THAT(good.out, HasSubstr("2 added"));
  RunResult exported = Orgdata({"export", "--db=" + db});
  EXPECT_EQ(exported.exit_code, 0) << exported.err;
  EXPECT_EQ(exported.out,
            "id,manager_id,full_name,title,email,department,hire_date,notes\n"
            "1,,Ada,CEO,ada@x,,2020-01-01,\n"
            "2,1,Bo,,bo@x,Sales,2021-01-01,\n");
}

// SIGKILL while the import is writing: the database is as it was before.
TEST_F(ImportCliTest, SigkillInTheMiddleLeavesTheDatabaseAsItWas) {
  // A file big enough to take a while to apply: a seeded organisation's
  // export.
  const std::string source = Migrated("source.db");
  seed::SeedOptions big;
  big.employees = 400000;
  ASSERT_OK(seed::SeedOrganisation(source, big));
  const std::string file = dir_.Join("everyone.csv");
  {
    RunResult exported = Orgdata({"export", "--db=" + source});
    ASSERT_EQ(exported.exit_code, 0) << exported.err;
    testing::WriteFile(file, exported.out);
  }
  const std::string db = Migrated("pulse.db");
  seed::SeedOptions small;
  small.employees = 500;
  small.seed = 3;
  ASSERT_OK(seed::SeedOrganisation(db, small));
  RunResult before = Orgdata({"export", "--db=" + db});
  ASSERT_EQ(before.exit_code, 0);

  auto import =
      testing::Subprocess::Start({PULSE_ORGDATA_BIN, "import", "--db=" + db,
                                  "--file=" + file, "--mode=replace"},
                                 dir_.path());
  ASSERT_OK(import);
  // Mid-write: the write-ahead log holds uncommitted pages.
  const std::string wal = db + "-wal";
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        struct stat st;
        return stat(wal.c_str(), &st) == 0 && st.st_size > (8 << 20);
      },
      absl::Seconds(120)))
      << (*import)->Stderr();
  (*import)->Signal(SIGKILL);
  EXPECT_EQ((*import)->Wait(absl::Seconds(10)), 128 + SIGKILL)
      << "the import finished before it could be killed";

  RunResult after = Orgdata({"export", "--db=" + db});
  ASSERT_EQ(after.exit_code, 0) << after.err;
  EXPECT_TRUE(after.out == before.out) << "the data changed";
  SQLite::Database check(db, SQLite::OPEN_READONLY);
  EXPECT_EQ(check.execAndGet("PRAGMA integrity_check").getString(), "ok");
  // And the same import runs whole afterwards.
  RunResult again =
      Orgdata({"import", "--db=" + db, "--file=" + file, "--mode=replace"});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  // The 500 ids already there are updated, the rest added.
  EXPECT_THAT(again.out, HasSubstr("399500 added, 500 updated"));
  EXPECT_EQ(SQLite::Database(db, SQLite::OPEN_READONLY)
                .execAndGet("SELECT count(*) FROM employees")
                .getInt64(),
            400000);
}

}  // namespace
}  // namespace pulse
