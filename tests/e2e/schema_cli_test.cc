// Runs the real pulse-schema binary as the README does.

#include <signal.h>

#include <algorithm>
#include <filesystem>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/store/store.h"
#include "tests/test_util/migrations.h"
#include "tests/test_util/project_db.h"
#include "tests/test_util/reflection_client.h"
#include "tests/test_util/status_matchers.h"
#include "tests/test_util/subprocess.h"
#include "tests/test_util/temp_dir.h"

namespace pulse {
namespace {

using ::testing::HasSubstr;
using testing::RunProcess;
using testing::RunResult;
using ::testing::StartsWith;

class SchemaCliTest : public ::testing::Test {
 protected:
  RunResult Cli(std::vector<std::string> args,
                const std::string& migrations = testing::ProjectMigrations()) {
    std::vector<std::string> argv = {PULSE_SCHEMA_BIN};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back("--db=" + db_path());
    argv.push_back("--migrations=" + migrations);
    return RunProcess(argv, dir_.path());
  }

  std::string db_path() const { return dir_.Join("pulse.db"); }

  int64_t Query(const std::string& sql) {
    return testing::OpenSqlite(db_path())->execAndGet(sql).getInt64();
  }

  testing::TempDir dir_;
};

TEST_F(SchemaCliTest, UpgradeHeadThenCurrentShowsHeadAndBaseDropsTables) {
  RunResult heads = Cli({"heads"});
  ASSERT_EQ(heads.exit_code, 0) << heads.err;
  const std::string head = heads.out.substr(0, heads.out.find(' '));

  RunResult up = Cli({"upgrade", "head"});
  ASSERT_EQ(up.exit_code, 0) << up.err;
  EXPECT_THAT(up.out, HasSubstr("now at " + head));

  RunResult current = Cli({"current"});
  ASSERT_EQ(current.exit_code, 0) << current.err;
  EXPECT_EQ(current.out, head + " (head)\n");

  EXPECT_EQ(Cli({"validate"}).exit_code, 0);
  RunResult history = Cli({"history"});
  EXPECT_THAT(history.out, HasSubstr("(head, current)"));
  RunResult log = Cli({"log"});
  EXPECT_THAT(log.out, HasSubstr("upgrade"));

  // The data guard: once the tables hold rows.
  testing::OpenSqlite(db_path())->exec(
      "INSERT INTO employees (id, full_name, email, hire_date) VALUES (1, "
      "'Ada', 'ada@example.com', '2020-01-01')");
  RunResult refused = Cli({"downgrade", "base"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.err, HasSubstr("table employees ("));
  EXPECT_THAT(refused.err, HasSubstr("--allow_data_loss"));
  EXPECT_EQ(Cli({"current"}).out, head + " (head)\n");

  RunResult down = Cli({"downgrade", "base", "--allow_data_loss", "--backup"});
  ASSERT_EQ(down.exit_code, 0) << down.err;
  EXPECT_EQ(Cli({"current"}).out, "base\n");
  // The first backup holds the organisation; restored, the database is
  // back at head with no migration left marked as running (the backup was
  // taken inside the run).
  const std::string kBackup = "backup written: ";
  const size_t at = down.out.find(kBackup);
  ASSERT_NE(at, std::string::npos) << down.out;
  const size_t from = at + kBackup.size();
  const std::string backup =
      down.out.substr(from, down.out.find(' ', from) - from);
  RunResult restored = Cli({"restore", "--from=" + backup});
  ASSERT_EQ(restored.exit_code, 0) << restored.err;
  EXPECT_EQ(Cli({"current"}).out, head + " (head)\n");
  EXPECT_EQ(Query("SELECT count(*) FROM employees"), 1);
  EXPECT_EQ(Cli({"validate"}).exit_code, 0);
  ASSERT_EQ(Cli({"downgrade", "base", "--allow_data_loss"}).exit_code, 0);
  EXPECT_EQ(Query("SELECT count(*) FROM sqlite_schema WHERE name IN "
                  "('employees', 'departments') OR name LIKE 'employees_%' "
                  "OR name LIKE 'departments_%'"),
            0);
}

TEST_F(SchemaCliTest, RelativeDowngradeIsNotTakenForAFlag) {
  ASSERT_EQ(Cli({"upgrade", "head"}).exit_code, 0);
  RunResult down = Cli({"downgrade", "-1"});
  ASSERT_EQ(down.exit_code, 0) << down.err;
  EXPECT_THAT(down.out, StartsWith("downgrade "));
}

TEST_F(SchemaCliTest, FailuresExitNonZeroWithOneLine) {
  RunResult bad_target = Cli({"upgrade", "nope"});
  EXPECT_EQ(bad_target.exit_code, 1);
  EXPECT_THAT(bad_target.err, StartsWith("pulse-schema: no revision matches"));
  EXPECT_EQ(std::count(bad_target.err.begin(), bad_target.err.end(), '\n'), 1);

  EXPECT_EQ(Cli({"frobnicate"}).exit_code, 2);
  EXPECT_EQ(Cli({"upgrade"}).exit_code, 2);

  RunResult no_dir = Cli({"current"}, dir_.Join("missing"));
  EXPECT_EQ(no_dir.exit_code, 1);
  EXPECT_THAT(no_dir.err, HasSubstr("does not exist"));
}

TEST_F(SchemaCliTest, FailingMigrationChangesNothing) {
  const std::string scripts = dir_.Join("m");
  std::filesystem::create_directory(scripts);
  testing::AddScript(scripts, "r1", "none",
                     "CREATE TABLE t (x); "
                     "INSERT INTO t VALUES (1);",
                     "DROP TABLE t;");
  testing::AddScript(scripts, "r2", "r1",
                     "INSERT INTO t VALUES (2); CREATE TABLE u (y);\n"
                     "SELEC broken;",
                     "DROP TABLE u;");
  RunResult up = Cli({"upgrade", "head"}, scripts);
  EXPECT_EQ(up.exit_code, 1);
  EXPECT_THAT(up.err, HasSubstr("r2.sql"));
  EXPECT_THAT(up.err, HasSubstr("SELEC broken"));
  EXPECT_EQ(Cli({"current"}, scripts).out, "r1\n");
  EXPECT_EQ(Query("SELECT count(*) FROM t"), 1);
  EXPECT_EQ(Query("SELECT count(*) FROM sqlite_schema WHERE name = 'u'"), 0);
}

TEST_F(SchemaCliTest, TwoProcessesUpgradingAtOnceApplyEachRevisionOnce) {
  // Revisions slow enough (a few hundred ms each) that the runs overlap.
  const std::string scripts = dir_.Join("slow");
  std::filesystem::create_directory(scripts);
  std::string previous = "none";
  for (int i = 1; i <= 4; ++i) {
    const std::string id = absl::StrCat("slow", i);
    testing::AddScript(
        scripts, id, previous,
        absl::StrCat("CREATE TABLE t", i,
                     " AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT "
                     "x + 1 FROM c WHERE x < 1000000) SELECT x FROM c;"),
        absl::StrCat("DROP TABLE t", i, ";"));
    previous = id;
  }
  std::vector<std::string> argv = {PULSE_SCHEMA_BIN, "upgrade", "head",
                                   "--db=" + db_path(),
                                   "--migrations=" + scripts};
  auto a = testing::Subprocess::Start(argv, dir_.path());
  auto b = testing::Subprocess::Start(argv, dir_.path());
  ASSERT_OK(a);
  ASSERT_OK(b);
  EXPECT_EQ((*a)->Wait(absl::Seconds(60)), 0) << (*a)->Stderr();
  EXPECT_EQ((*b)->Wait(absl::Seconds(60)), 0) << (*b)->Stderr();
  EXPECT_EQ(Query("SELECT count(*) FROM pulse_migration_history"), 4);
  EXPECT_EQ(Query("SELECT count(DISTINCT revision) FROM "
                  "pulse_migration_history WHERE direction = 'upgrade'"),
            4);
  EXPECT_EQ(Query("SELECT count(*) FROM t4"), 1000000);
  EXPECT_EQ(Cli({"current"}, scripts).out, "slow4 (head)\n");
}

TEST_F(SchemaCliTest, ValidateExitsOneOnDrift) {
  ASSERT_EQ(Cli({"upgrade", "head"}).exit_code, 0);
  { testing::OpenSqlite(db_path())->exec("CREATE TABLE stray (x)"); }
  RunResult validate = Cli({"validate"});
  EXPECT_EQ(validate.exit_code, 1);
  EXPECT_THAT(validate.out, HasSubstr("unexpected table"));
}

TEST_F(SchemaCliTest, NewWritesAScriptOnTheHead) {
  const std::string scripts = dir_.Join("authoring");
  std::filesystem::create_directory(scripts);
  testing::AddScript(scripts, "first", "none", "CREATE TABLE t (x);",
                     "DROP TABLE t;");
  RunResult created = Cli({"new", "-m", "add a column"}, scripts);
  ASSERT_EQ(created.exit_code, 0) << created.err;
  EXPECT_THAT(created.out, HasSubstr("_add_a_column.sql"));
  RunResult heads = Cli({"heads"}, scripts);
  EXPECT_THAT(heads.out, HasSubstr("add a column"));
  RunResult history = Cli({"history"}, scripts);
  EXPECT_THAT(history.out, HasSubstr("first -> "));
}

TEST_F(SchemaCliTest, ServeAnswersReflectionHealthAndStopsOnSigterm) {
  auto server = testing::Subprocess::Start(
      {PULSE_SCHEMA_BIN, "serve", "--listen=127.0.0.1:0"}, dir_.path(),
      {"PULSE_DB=" + db_path(),
       "PULSE_MIGRATIONS=" + testing::ProjectMigrations(),
       "PULSE_ADMIN_TOKEN=schema-cli-test-token",
       "PULSE_UPGRADE_ON_START=head"});
  ASSERT_OK(server);
  std::optional<int> port =
      testing::WaitForListeningPort(**server, absl::Seconds(20));
  ASSERT_TRUE(port.has_value()) << (*server)->Stderr();

  {
    testing::ReflectionClient client(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", *port), grpc::InsecureChannelCredentials()));
    auto services = client.ListServices();
    ASSERT_OK(services);
    EXPECT_THAT(*services, ::testing::IsSupersetOf(
                               {"grpc.health.v1.Health",
                                "grpc.reflection.v1alpha.ServerReflection",
                                "pulse.schema.v1.SchemaService"}));
    auto described = client.Describe("pulse.schema.v1.SchemaService");
    ASSERT_OK(described);
    EXPECT_THAT(*described, HasSubstr("rpc WatchRevision"));

    grpc::ClientContext health_context;
    auto health =
        client.Call("grpc.health.v1.Health/Check", "{}", &health_context);
    ASSERT_OK(health);
    EXPECT_THAT((*health)[0], HasSubstr("SERVING"));

    grpc::ClientContext revision_context;
    auto revision = client.Call("pulse.schema.v1.SchemaService/GetRevision",
                                "{}", &revision_context);
    ASSERT_OK(revision);
    EXPECT_THAT((*revision)[0], HasSubstr("\"at_head\":true"));

    grpc::ClientContext upgrade_context;
    auto refused = client.Call("pulse.schema.v1.SchemaService/Downgrade",
                               R"({"target": "base"})", &upgrade_context);
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnauthenticated);
  }

  (*server)->Signal(SIGTERM);
  EXPECT_EQ((*server)->Wait(absl::Seconds(20)), 0) << (*server)->Stderr();
  EXPECT_THAT((*server)->Stderr(), HasSubstr("rpc method=GetRevision peer="));
  // Each line names its status code.
  EXPECT_THAT((*server)->Stderr(),
              ::testing::ContainsRegex("method=GetRevision [^\n]* status=OK "));
  EXPECT_THAT((*server)->Stderr(),
              ::testing::ContainsRegex(
                  "method=Downgrade [^\n]* status=UNAUTHENTICATED "));
  EXPECT_THAT((*server)->Stderr(),
              ::testing::Not(HasSubstr("schema-cli-test-token")));
}

}  // namespace
}  // namespace pulse
