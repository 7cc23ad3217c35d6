// Runs the real pulse client against a real pulse-orgdata on a small,
// known organisation.

#include <signal.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/migrate/migrator.h"
#include "libs/store/store.h"
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

// Runs that may drop data (the tests downgrade populated databases).
migrate::RunOptions AllowDataLoss() {
  migrate::RunOptions run;
  run.allow_data_loss = true;
  return run;
}

constexpr char kToken[] = "client-test-admin-token";

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    migrate::MigratorOptions options;
    options.db_path = db_path();
    auto m = migrate::Migrator::Create(testing::ProjectMigrations(), options);
    ASSERT_OK(m);
    migrator_ = *std::move(m);
    ASSERT_OK(migrator_->Upgrade("head"));
    testing::OpenSqlite(db_path())->exec(
        "BEGIN;"
        "INSERT INTO departments (id, name, parent_id, head_employee_id) "
        "VALUES (1, 'Company', NULL, 1), (2, 'Engineering', 1, 2);"
        "INSERT INTO employees (id, manager_id, department_id, full_name, "
        "title, email, hire_date) VALUES "
        "(1, NULL, 1, 'Ada Chief', 'CEO', 'ada@x', '2010-01-01'),"
        "(2, 1, 2, 'Bo Lead', 'VP Engineering', 'bo@x', '2011-01-01'),"
        "(3, 2, 2, 'Cy Dev', 'Engineer', 'cy@x', '2012-01-01'),"
        "(4, 2, 2, 'Di Dev', 'Engineer', 'di@x', '2013-01-01'),"
        "(5, 1, 1, 'Ed Sales', 'VP Sales', 'ed@x', '2014-01-01'),"
        "(6, 3, 2, 'Flo Intern', 'Intern', 'flo@x', '2020-01-01');"
        "COMMIT;");
    auto org = testing::Subprocess::Start(
        {PULSE_ORGDATA_BIN, "serve", "--listen=127.0.0.1:0",
         "--db=" + db_path(), "--poll_interval=50ms",
         std::string("--admin_token=") + kToken},
        dir_.path());
    ASSERT_OK(org);
    org_ = *std::move(org);
    auto port = testing::WaitForListeningPort(*org_, absl::Seconds(20));
    ASSERT_TRUE(port.has_value()) << org_->Stderr();
    address_ = absl::StrCat("127.0.0.1:", *port);
  }

  void TearDown() override {
    if (org_ == nullptr) return;
    org_->Signal(SIGTERM);
    EXPECT_EQ(org_->Wait(absl::Seconds(20)), 0) << org_->Stderr();
  }

  RunResult Pulse(std::vector<std::string> args) {
    std::vector<std::string> argv = {PULSE_CLIENT_BIN};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunProcess(argv, dir_.path(), {"PULSE_ADDR=" + address_});
  }

  std::string db_path() const { return dir_.Join("pulse.db"); }

  testing::TempDir dir_;
  std::unique_ptr<migrate::Migrator> migrator_;
  std::unique_ptr<testing::Subprocess> org_;
  std::string address_;
};

TEST_F(ClientTest, TreeDrawsTheKnownOrganisation) {
  ASSERT_TRUE(testing::WaitFor([&] {
    return Pulse({"health", address_}).exit_code == 0;
  }));
  RunResult tree = Pulse({"tree", "1"});
  ASSERT_EQ(tree.exit_code, 0) << tree.err;
  EXPECT_EQ(tree.out,
            "Ada Chief — CEO #1\n"
            "├── Bo Lead — VP Engineering #2\n"
            "│   ├── Cy Dev — Engineer #3\n"
            "│   │   └── Flo Intern — Intern #6\n"
            "│   └── Di Dev — Engineer #4\n"
            "└── Ed Sales — VP Sales #5\n");

  RunResult shallow = Pulse({"tree", "1", "--depth=1"});
  EXPECT_EQ(shallow.out,
            "Ada Chief — CEO #1\n"
            "├── Bo Lead — VP Engineering #2  (+2 reports)\n"
            "└── Ed Sales — VP Sales #5\n");

  RunResult dot = Pulse({"tree", "2", "--format=dot"});
  ASSERT_EQ(dot.exit_code, 0);
  EXPECT_THAT(dot.out, ::testing::StartsWith("digraph org {"));
  EXPECT_THAT(dot.out, HasSubstr("2 [label=\"Bo Lead\\nVP Engineering\""));
  EXPECT_THAT(dot.out, HasSubstr("  3 -> 6;\n"));
  EXPECT_THAT(dot.out, ::testing::Not(HasSubstr("1 -> 2")));
  EXPECT_THAT(dot.out, ::testing::EndsWith("}\n"));
  // Graphviz draws it.
  testing::WriteFile(dir_.Join("org.dot"), dot.out);
  RunResult svg = RunProcess({"/usr/bin/dot", "-Tsvg", dir_.Join("org.dot"),
                              "-o", dir_.Join("org.svg")},
                             dir_.path());
  EXPECT_EQ(svg.exit_code, 0) << svg.err;
  EXPECT_THAT(testing::ReadFile(dir_.Join("org.svg")), HasSubstr("Flo Intern"));

  RunResult json = Pulse({"tree", "1", "--format=json"});
  EXPECT_EQ(std::count(json.out.begin(), json.out.end(), '\n'), 6);
  EXPECT_THAT(json.out,
              HasSubstr("{\"id\":\"6\",\"manager_id\":\"3\",\"depth\":3"));
}

TEST_F(ClientTest, EmployeeChainAndErrorsInPlainWords) {
  RunResult chain = Pulse({"chain", "6"});
  ASSERT_EQ(chain.exit_code, 0) << chain.err;
  EXPECT_EQ(chain.out,
            "Ada Chief — CEO #1\n"
            "  Bo Lead — VP Engineering #2\n"
            "    Cy Dev — Engineer #3\n"
            "      Flo Intern — Intern #6\n");
  RunResult employee = Pulse({"employee", "4"});
  EXPECT_THAT(employee.out, HasSubstr("#4 Di Dev"));
  EXPECT_THAT(employee.out, HasSubstr("manager:    #2"));

  RunResult missing = Pulse({"tree", "77"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_EQ(missing.err, "pulse: no employee with id 77.\n");
  EXPECT_EQ(Pulse({"tree", "abc"}).exit_code, 2);
  EXPECT_EQ(Pulse({"tree", "1", "--format=png"}).exit_code, 2);

  ASSERT_OK(migrator_->Downgrade("base", AllowDataLoss()));
  ASSERT_TRUE(testing::WaitFor([&] {
    return Pulse({"health", address_}).exit_code == 1;
  }));
  RunResult refused = Pulse({"tree", "1"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.err, HasSubstr("refuses to serve"));
  EXPECT_THAT(refused.err, HasSubstr("a1c3f0d2b7e4"));
  EXPECT_THAT(refused.err, HasSubstr("pulse-schema upgrade head"));

  RunResult nobody = Pulse({"health", "127.0.0.1:1"});
  EXPECT_EQ(nobody.exit_code, 1);
  EXPECT_THAT(nobody.err, HasSubstr("cannot reach"));
}

TEST_F(ClientTest, ReportsDepartmentsAndSearchPrintTheKnownOrganisation) {
  ASSERT_TRUE(testing::WaitFor([&] {
    return Pulse({"health", address_}).exit_code == 0;
  }));
  RunResult reports = Pulse({"reports", "2"});
  ASSERT_EQ(reports.exit_code, 0) << reports.err;
  EXPECT_EQ(reports.out,
            "#3 Cy Dev — Engineer  (1 report)\n"
            "#4 Di Dev — Engineer\n");
  RunResult departments = Pulse({"departments"});
  ASSERT_EQ(departments.exit_code, 0) << departments.err;
  EXPECT_EQ(departments.out,
            "Company #1: 6 people (2 directly), head Ada Chief #1\n"
            "  Engineering #2: 4 people (4 directly), head Bo Lead #2\n");
  RunResult search = Pulse({"search", "dev"});
  ASSERT_EQ(search.exit_code, 0) << search.err;
  EXPECT_EQ(search.out,
            "#3 Cy Dev — Engineer <cy@x>\n"
            "#4 Di Dev — Engineer <di@x>\n");
  RunResult exact = Pulse({"search", "di", "dev"});
  EXPECT_EQ(exact.out, "#4 Di Dev — Engineer <di@x>\n");
  RunResult vp = Pulse({"search", "VP", "--department=1", "--limit=5"});
  EXPECT_EQ(vp.out, "#5 Ed Sales — VP Sales <ed@x>\n");
  RunResult limited = Pulse({"search", "e", "--limit=1"});
  EXPECT_THAT(limited.out, HasSubstr("(more: raise --limit"));
  RunResult unknown = Pulse({"reports", "99"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_THAT(unknown.err, HasSubstr("no employee with id 99"));
  EXPECT_EQ(Pulse({"search"}).exit_code, 2);
}

TEST_F(ClientTest, WatchPrintsTheChangesUnderARootFromAToken) {
  // The token of now, as a read's snapshot would give it.
  const std::string since = absl::StrCat(
      testing::OpenSqlite(db_path())
          ->execAndGet("SELECT printf('%x', epoch) || '.' || (SELECT seq "
                       "FROM sqlite_sequence WHERE name = 'change_log') FROM "
                       "change_log_state")
          .getString());
  testing::OpenSqlite(db_path())->exec(
      "UPDATE employees SET title = 'CFO' WHERE id = 5;"  // Not under 2.
      "UPDATE employees SET title = 'Staff Engineer' WHERE id = 3;"
      "UPDATE employees SET manager_id = 4 WHERE id = 6;");
  RunResult text = Pulse({"watch", "2", "--since=" + since, "--max_events=2"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_EQ(text.out,
            "updated            #3 Cy Dev — Staff Engineer (reports to #2)\n"
            "moved              #6 Flo Intern — Intern (reports to #4)\n");
  RunResult json =
      Pulse({"watch", "--since=" + since, "--format=json", "--max_events=1"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  EXPECT_THAT(json.out, HasSubstr("\"kind\":\"CHANGE_KIND_CHECKPOINT\""));
  EXPECT_THAT(json.out, HasSubstr("\"title\":\"CFO\""));
  RunResult bad = Pulse({"watch", "--since=nonsense"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_THAT(bad.err, HasSubstr("is not a change token"));
}

TEST_F(ClientTest, TreeFollowRedrawsTheSubtreeAsItChanges) {
  auto follow =
      testing::Subprocess::Start({PULSE_CLIENT_BIN, "tree", "2", "--follow",
                                  "--max_events=1", "--addr=" + address_},
                                 dir_.path());
  ASSERT_OK(follow);
  // The first drawing, then a change under #2.
  ASSERT_TRUE(testing::WaitFor([&] {
    return (*follow)->Stdout().find("--- at ") != std::string::npos;
  })) << (*follow)->Stderr();
  testing::OpenSqlite(db_path())->exec(
      "UPDATE employees SET manager_id = 4 WHERE id = 6");
  ASSERT_EQ((*follow)->Wait(absl::Seconds(20)), 0) << (*follow)->Stderr();
  const std::string out = (*follow)->Stdout();
  const size_t second = out.find("--- at ") + 1;
  const std::string redrawn = out.substr(out.find('\n', second) + 1);
  EXPECT_THAT(redrawn, HasSubstr("Bo Lead"));
  // Flo now under Di, not Cy: Di's line comes right before Flo's.
  const size_t di = redrawn.find("Di Dev"), flo = redrawn.find("Flo Intern");
  ASSERT_NE(di, std::string::npos) << redrawn;
  ASSERT_NE(flo, std::string::npos) << redrawn;
  EXPECT_LT(di, flo) << redrawn;
  EXPECT_EQ(redrawn.find('\n', di), redrawn.rfind('\n', flo)) << redrawn;
}

TEST_F(ClientTest, ImportSendsAFileToTheServiceAllOrNothing) {
  ASSERT_TRUE(testing::WaitFor([&] {
    return Pulse({"health", address_}).exit_code == 0;
  }));
  const std::string good = dir_.Join("people.csv");
  // Reports before their manager; a department by name.
  testing::WriteFile(good,
                     "id,manager_id,full_name,title,email,department,"
                     "hire_date\n"
                     "9,8,Ivy Report,Engineer,ivy@x,Platform,2024-03-01\n"
                     "8,2,Hal Manager,Manager,hal@x,Platform,2024-02-01\n");
  const std::string bad = dir_.Join("bad.csv");
  testing::WriteFile(bad,
                     "id,manager_id,full_name,title,email,department,"
                     "hire_date\n"
                     "8,2,Hal Manager,Manager,ada@x,Platform,2024-02-01\n"
                     "9,8,Ivy Report,Engineer,ivy@x,,2024-13-01\n");

  RunResult no_token = Pulse({"import", good});
  EXPECT_EQ(no_token.exit_code, 1);
  EXPECT_THAT(no_token.err, HasSubstr("--admin_token"));
  EXPECT_THAT(no_token.err, ::testing::Not(HasSubstr("not valid")));

  const std::string token = std::string("--admin_token=") + kToken;
  RunResult refused = Pulse({"import", bad, token});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.err, HasSubstr(bad + ":2: email: 'ada@x' already "
                                           "belongs to employee 1"));
  EXPECT_THAT(refused.err, HasSubstr(bad + ":3: hire_date: '2024-13-01'"));

  RunResult dry = Pulse({"import", good, token, "--dry_run"});
  EXPECT_EQ(dry.exit_code, 0) << dry.err;
  EXPECT_THAT(dry.out, HasSubstr("would import"));
  EXPECT_THAT(Pulse({"employee", "9"}).err, HasSubstr("no employee"));

  RunResult imported = Pulse({"import", good, token});
  ASSERT_EQ(imported.exit_code, 0) << imported.err;
  EXPECT_THAT(imported.out, HasSubstr("2 added"));
  RunResult tree = Pulse({"tree", "2", "--format=json"});
  EXPECT_THAT(tree.out, HasSubstr("Ivy Report"));
  EXPECT_THAT(Pulse({"chain", "9"}).out, HasSubstr("Hal Manager"));
}

TEST_F(ClientTest, HelpListsTheFlagsAndHealthTakesAddrToo) {
  RunResult help = RunProcess({PULSE_CLIENT_BIN, "--help"}, dir_.path());
  for (const char* flag : {"--addr", "--admin_token", "--format", "--depth",
                           "--timeout", "--tls_ca"}) {
    EXPECT_THAT(help.out + help.err, HasSubstr(flag));
  }
  EXPECT_THAT(help.out + help.err,
              ::testing::Not(HasSubstr("No flags matched")));
  // The positional form (container probes) and --addr alike.
  EXPECT_TRUE(testing::WaitFor([&] {
    return Pulse({"health", address_}).exit_code == 0;
  }));
  EXPECT_EQ(RunProcess({PULSE_CLIENT_BIN, "health", "--addr=" + address_},
                       dir_.path())
                .exit_code,
            0);
}

}  // namespace
}  // namespace pulse
