// Real processes under faults: a migration killed with SIGKILL, and the
// whole stack over TLS with a certificate made at test time.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "SQLiteCpp/SQLiteCpp.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/store/store.h"
#include "tests/test_util/migrations.h"
#include "tests/test_util/status_matchers.h"
#include "tests/test_util/subprocess.h"
#include "tests/test_util/temp_dir.h"

namespace pulse {
namespace {

using ::testing::AnyOf;
using ::testing::HasSubstr;
using testing::RunProcess;
using testing::RunResult;

class ReliabilityTest : public ::testing::Test {
 protected:
  std::string db_path() const { return dir_.Join("pulse.db"); }

  // Opens read-only, so probing never takes a write lock.
  // Null while there is no database to read.
  std::unique_ptr<SQLite::Database> Reader() {
    try {
      auto db = std::make_unique<SQLite::Database>(
          db_path(), SQLite::OPEN_READONLY, /*busy_timeout_ms=*/5000);
      db->exec("SELECT count(*) FROM sqlite_schema");
      return db;
    } catch (const SQLite::Exception&) {
      return nullptr;
    }
  }

  testing::TempDir dir_;
};

// The marker of a migration killed with SIGKILL stays in the database;
// the org-data service sees that its process holds no lock and serves the
// recorded revision again within one poll, without a rerun of the
// migrator.
TEST_F(ReliabilityTest, AKilledMigrationsMarkerDoesNotStopReads) {
  // The project's revisions, then a slow one on top.
  const std::string scripts = dir_.Join("scripts");
  std::filesystem::create_directory(scripts);
  std::string head;
  for (const auto& entry :
       std::filesystem::directory_iterator(testing::ProjectMigrations())) {
    std::filesystem::copy(entry.path(), scripts);
  }
  {
    RunResult heads = RunProcess(
        {PULSE_SCHEMA_BIN, "heads", "--migrations=" + scripts}, dir_.path());
    ASSERT_EQ(heads.exit_code, 0) << heads.err;
    head = heads.out.substr(0, heads.out.find(' '));
  }
  const std::vector<std::string> flags = {"--db=" + db_path(),
                                          "--migrations=" + scripts};
  std::vector<std::string> upgrade = {PULSE_SCHEMA_BIN, "upgrade", head};
  upgrade.insert(upgrade.end(), flags.begin(), flags.end());
  ASSERT_EQ(RunProcess(upgrade, dir_.path()).exit_code, 0);
  testing::AddScript(
      scripts, "f00d5a1e0001", head,
      "CREATE TABLE big AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT "
      "x + 1 FROM c WHERE x < 4000000) SELECT x, randomblob(16) AS b FROM c;"
      "CREATE INDEX big_b ON big (b);",
      "DROP TABLE big;");

  auto org = testing::Subprocess::Start(
      {PULSE_ORGDATA_BIN, "serve", "--listen=127.0.0.1:0", flags[0],
       "--poll_interval=200ms"},
      dir_.path());
  ASSERT_OK(org);
  auto port = testing::WaitForListeningPort(**org, absl::Seconds(20));
  ASSERT_TRUE(port.has_value());
  const std::string address = absl::StrCat("127.0.0.1:", *port);
  auto serving = [&] {
    return RunProcess({PULSE_CLIENT_BIN, "health", address}, dir_.path())
               .exit_code == 0;
  };
  ASSERT_TRUE(testing::WaitFor(serving, absl::Seconds(10)));

  std::vector<std::string> slow = {PULSE_SCHEMA_BIN, "upgrade", "head"};
  slow.insert(slow.end(), flags.begin(), flags.end());
  auto run = testing::Subprocess::Start(slow, dir_.path());
  ASSERT_OK(run);
  // While it runs, the service refuses.
  ASSERT_TRUE(testing::WaitFor([&] { return !serving(); }, absl::Seconds(30)));
  (*run)->Signal(SIGKILL);
  ASSERT_EQ((*run)->Wait(absl::Seconds(10)), 128 + SIGKILL);
  {
    auto db = Reader();
    ASSERT_NE(db, nullptr);
    EXPECT_EQ(
        db->execAndGet("SELECT count(*) FROM pulse_migration_run").getInt(), 1)
        << "the killed run's marker is still there";
  }
  // Within one poll interval (200 ms) and the time a health check takes.
  EXPECT_TRUE(testing::WaitFor(serving, absl::Seconds(3))) << (*org)->Stderr();
  (*org)->Signal(SIGTERM);
  EXPECT_EQ((*org)->Wait(absl::Seconds(20)), 0);
}

TEST_F(ReliabilityTest, SigkillDuringAMigrationLeavesAWholeRevision) {
  const std::string scripts = dir_.Join("scripts");
  std::filesystem::create_directory(scripts);
  testing::AddScript(scripts, "r1", "none", "CREATE TABLE small (x);",
                     "DROP TABLE small;");
  // Slow enough (seconds) to be killed in the middle.
  testing::AddScript(
      scripts, "r2", "r1",
      "CREATE TABLE big AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT "
      "x + 1 FROM c WHERE x < 4000000) SELECT x, randomblob(16) AS b FROM c;"
      "CREATE INDEX big_b ON big (b);",
      "DROP TABLE big;");
  testing::AddScript(scripts, "r3", "r2", "CREATE TABLE after (x);",
                     "DROP TABLE after;");
  const std::vector<std::string> flags = {"--db=" + db_path(),
                                          "--migrations=" + scripts};
  std::vector<std::string> upgrade = {PULSE_SCHEMA_BIN, "upgrade", "head"};
  upgrade.insert(upgrade.end(), flags.begin(), flags.end());
  auto run = testing::Subprocess::Start(upgrade, dir_.path());
  ASSERT_OK(run);
  // Wait until r1 is committed and the run is inside r2.
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        auto db = Reader();
        if (db == nullptr || !db->tableExists("pulse_migration_run"))
          return false;
        SQLite::Statement q(
            *db,
            "SELECT (SELECT count(*) FROM pulse_migration_run), "
            "(SELECT group_concat(revision) FROM pulse_version)");
        return q.executeStep() && q.getColumn(0).getInt() == 1 &&
               q.getColumn(1).getString() == "r1";
      },
      absl::Seconds(30)));
  (*run)->Signal(SIGKILL);
  ASSERT_EQ((*run)->Wait(absl::Seconds(10)), 128 + SIGKILL);

  RunResult current = RunProcess(
      {PULSE_SCHEMA_BIN, "current", flags[0], flags[1]}, dir_.path());
  ASSERT_EQ(current.exit_code, 0) << current.err;
  EXPECT_THAT(current.out, AnyOf(HasSubstr("r1"), HasSubstr("r2")));
  {
    auto db = Reader();
    ASSERT_NE(db, nullptr);
    EXPECT_EQ(db->execAndGet("PRAGMA integrity_check").getString(), "ok");
    // Never in between: r2's table exists exactly when r2 is recorded.
    const bool at_r2 = current.out.find("r2") != std::string::npos;
    EXPECT_EQ(db->tableExists("big"), at_r2);
  }
  // The service starts again cleanly and the migration can finish.
  std::vector<std::string> serve = {PULSE_SCHEMA_BIN, "serve",
                                    "--listen=127.0.0.1:0"};
  serve.insert(serve.end(), flags.begin(), flags.end());
  auto server = testing::Subprocess::Start(serve, dir_.path());
  ASSERT_OK(server);
  ASSERT_TRUE(testing::WaitForListeningPort(**server, absl::Seconds(20)));
  (*server)->Signal(SIGTERM);
  EXPECT_EQ((*server)->Wait(absl::Seconds(20)), 0);
  upgrade.push_back("--lock_timeout=10s");
  RunResult finished = RunProcess(upgrade, dir_.path(), {}, absl::Seconds(120));
  EXPECT_EQ(finished.exit_code, 0) << finished.err;
  EXPECT_THAT(finished.out, HasSubstr("now at r3"));
  auto db = Reader();
  EXPECT_EQ(db->execAndGet("SELECT count(*) FROM pulse_migration_run").getInt(),
            0);
}

TEST_F(ReliabilityTest, LostSchemaServiceIsLoggedOnceWhileRetrying) {
  // A listener that accepts and hangs up: every watch attempt fails, and
  // each attempt is a connection we can count.
  int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)),
            0);
  ASSERT_EQ(::listen(listener, 16), 0);
  socklen_t len = sizeof(addr);
  ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
  std::atomic<int> attempts{0};
  std::atomic<bool> stop{false};
  std::thread acceptor([&] {
    while (!stop) {
      pollfd p{listener, POLLIN, 0};
      if (::poll(&p, 1, 50) > 0) {
        int c = ::accept(listener, nullptr, nullptr);
        if (c >= 0) {
          ++attempts;
          ::close(c);
        }
      }
    }
  });
  ASSERT_EQ(
      RunProcess({PULSE_SCHEMA_BIN, "upgrade", "head", "--db=" + db_path(),
                  "--migrations=" + testing::ProjectMigrations()},
                 dir_.path())
          .exit_code,
      0);
  auto org = testing::Subprocess::Start(
      {PULSE_ORGDATA_BIN, "serve", "--listen=127.0.0.1:0", "--db=" + db_path(),
       absl::StrCat("--schema_addr=127.0.0.1:", ntohs(addr.sin_port))},
      dir_.path());
  ASSERT_OK(org);
  EXPECT_TRUE(
      testing::WaitFor([&] { return attempts >= 4; }, absl::Seconds(30)));
  stop = true;
  acceptor.join();
  ::close(listener);
  (*org)->Signal(SIGTERM);
  EXPECT_EQ((*org)->Wait(absl::Seconds(20)), 0);
  const std::string log = (*org)->Stderr();
  size_t lines = 0;
  for (size_t at = log.find("no watch on schema service");
       at != std::string::npos;
       at = log.find("no watch on schema service", at + 1)) {
    ++lines;
  }
  EXPECT_EQ(lines, 1u) << log;
}

TEST_F(ReliabilityTest, StackRunsOverTls) {
  const std::string cert = dir_.Join("cert.pem"), key = dir_.Join("key.pem");
  RunResult made = RunProcess(
      {"/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
       "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost",
       "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"},
      dir_.path());
  ASSERT_EQ(made.exit_code, 0) << made.err;
  const std::vector<std::string> env = {
      "PULSE_DB=" + db_path(),
      "PULSE_MIGRATIONS=" + testing::ProjectMigrations(),
      "PULSE_TLS_CERT=" + cert, "PULSE_TLS_KEY=" + key};
  ASSERT_EQ(RunProcess({PULSE_SCHEMA_BIN, "upgrade", "head"}, dir_.path(), env)
                .exit_code,
            0);
  ASSERT_EQ(RunProcess({PULSE_ORGDATA_BIN, "seed", "--employees=30"},
                       dir_.path(), env)
                .exit_code,
            0);
  auto schema = testing::Subprocess::Start(
      {PULSE_SCHEMA_BIN, "serve", "--listen=127.0.0.1:0"}, dir_.path(), env);
  ASSERT_OK(schema);
  auto schema_port = testing::WaitForListeningPort(**schema, absl::Seconds(20));
  ASSERT_TRUE(schema_port.has_value());
  auto org = testing::Subprocess::Start(
      {PULSE_ORGDATA_BIN, "serve", "--listen=127.0.0.1:0",
       absl::StrCat("--schema_addr=127.0.0.1:", *schema_port),
       "--schema_ca=" + cert},
      dir_.path(), env);
  ASSERT_OK(org);
  auto org_port = testing::WaitForListeningPort(**org, absl::Seconds(20));
  ASSERT_TRUE(org_port.has_value());
  const std::string org_addr = absl::StrCat("127.0.0.1:", *org_port);

  auto pulse = [&](std::vector<std::string> args, bool tls) {
    std::vector<std::string> argv = {PULSE_CLIENT_BIN};
    argv.insert(argv.end(), args.begin(), args.end());
    if (tls) argv.push_back("--tls_ca=" + cert);
    return RunProcess(argv, dir_.path(), {"PULSE_ADDR=" + org_addr});
  };
  ASSERT_TRUE(testing::WaitFor([&] {
    return pulse({"health", org_addr}, true).exit_code == 0;
  }));
  RunResult tree = pulse({"tree", "1", "--format=json"}, true);
  EXPECT_EQ(tree.exit_code, 0) << tree.err;
  EXPECT_EQ(std::count(tree.out.begin(), tree.out.end(), '\n'), 30);
  // Plaintext is refused.
  EXPECT_NE(pulse({"tree", "1"}, false).exit_code, 0);
  // The org-data service's watch on the schema service runs over TLS too.
  EXPECT_TRUE(testing::WaitFor([&] {
    return (*org)->Stderr().find("watching schema service") !=
           std::string::npos;
  }));
  for (auto* p : {org->get(), schema->get()}) {
    p->Signal(SIGTERM);
    EXPECT_EQ(p->Wait(absl::Seconds(20)), 0);
  }
}

}  // namespace
}  // namespace pulse
