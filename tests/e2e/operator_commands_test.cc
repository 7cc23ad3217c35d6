// Every command that an error message tells the operator to run exists,
// and does what the message says.

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "SQLiteCpp/SQLiteCpp.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/hierarchy/hierarchy.h"
#include "libs/seed/seed.h"
#include "libs/store/pool.h"
#include "tests/test_util/migrations.h"
#include "tests/test_util/org_reference.h"
#include "tests/test_util/project_db.h"
#include "tests/test_util/status_matchers.h"
#include "tests/test_util/subprocess.h"
#include "tests/test_util/temp_dir.h"

namespace pulse {
namespace {

using ::testing::HasSubstr;
using testing::RunProcess;
using testing::RunResult;

// The commands named in `text` as 'pulse-BINARY COMMAND ...'.
std::vector<std::pair<std::string, std::string>> NamedCommands(
    const std::string& text) {
  static const std::regex kCommand("'pulse-(schema|orgdata) ([a-z][a-z-]*)");
  std::vector<std::pair<std::string, std::string>> found;
  for (std::sregex_iterator it(text.begin(), text.end(), kCommand), end;
       it != end; ++it) {
    found.emplace_back((*it)[1], (*it)[2]);
  }
  return found;
}

std::string Binary(const std::string& name) {
  return name == "schema" ? PULSE_SCHEMA_BIN : PULSE_ORGDATA_BIN;
}

class OperatorCommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK(testing::MigrateToHead(db_path()));
    seed::SeedOptions seed;
    seed.employees = 3000;
    ASSERT_OK(seed::SeedOrganisation(db_path(), seed));
  }

  // Streams the whole organisation through the read path; its status and
  // nodes.
  absl::Status StreamAll(std::vector<std::pair<int64_t, int>>* nodes) {
    store::OpenOptions open;
    open.read_only = true;
    store::ConnectionPool pool(db_path(), open, 1);
    auto lease = pool.Acquire();
    if (!lease.ok()) return lease.status();
    auto snapshot = hierarchy::Snapshot::Begin(*std::move(lease));
    if (!snapshot.ok()) return snapshot.status();
    hierarchy::SubtreeRequest request;
    request.root_id = 1;
    bool truncated = false;
    return (*snapshot)->StreamSubtree(
        request,
        [&](hierarchy::Employee& e) {
          nodes->emplace_back(e.id, e.depth);
          return true;
        },
        nullptr, &truncated);
  }

  RunResult Run(const std::string& binary, const std::string& command) {
    return RunProcess({Binary(binary), command, "--db=" + db_path(),
                       "--migrations=" + testing::ProjectMigrations()},
                      dir_.path());
  }

  std::string db_path() const { return dir_.Join("pulse.db"); }
  testing::TempDir dir_;
};

TEST_F(OperatorCommandsTest, AStaleIndexNamesCommandsThatFindAndRepairIt) {
  const testing::OrgTree tree = testing::OrgTree::Load(db_path());
  const int64_t vp = tree.children.at(1).front();
  {
    // A writer that went behind the triggers' back.
    SQLite::Database db(db_path(), SQLite::OPEN_READWRITE);
    db.exec(absl::StrCat(
        "UPDATE employees SET org_path = 'ffffffff' WHERE id = ", vp));
  }
  std::vector<std::pair<int64_t, int>> nodes;
  absl::Status broken = StreamAll(&nodes);
  ASSERT_EQ(broken.code(), absl::StatusCode::kDataLoss) << broken;
  const auto commands = NamedCommands(std::string(broken.message()));
  ASSERT_EQ(commands.size(), 2u) << broken.message();
  EXPECT_EQ(commands[0].second, "validate");
  EXPECT_EQ(commands[1].second, "repair-index");

  RunResult found = Run(commands[0].first, commands[0].second);
  EXPECT_EQ(found.exit_code, 1) << found.err;
  EXPECT_THAT(found.out, HasSubstr(absl::StrCat("subtree index: employee ", vp,
                                                " (manager 1) has path "
                                                "'ffffffff'")));
  EXPECT_THAT(found.out, HasSubstr("run 'pulse-schema repair-index'"));

  RunResult repaired = Run(commands[1].first, commands[1].second);
  EXPECT_EQ(repaired.exit_code, 0) << repaired.err;
  EXPECT_THAT(repaired.out, HasSubstr("path(s) changed"));

  RunResult clean = Run("schema", "validate");
  EXPECT_EQ(clean.exit_code, 0) << clean.out << clean.err;
  nodes.clear();
  ASSERT_OK(StreamAll(&nodes));
  EXPECT_EQ(nodes, tree.Dfs(1, 0));
}

TEST_F(OperatorCommandsTest, RepairRefusesACycleNamingItsIdsAndChangesNothing) {
  {
    SQLite::Database db(db_path(), SQLite::OPEN_READWRITE);
    // Behind the triggers' back, as a database written before revision
    // 7d2e4b9c1f60 could be.
    db.exec("DROP TRIGGER employees_org_path_move");
    db.exec("UPDATE employees SET manager_id = 3 WHERE id = 2");
    db.exec("UPDATE employees SET manager_id = 2 WHERE id = 3");
  }
  RunResult refused = Run("schema", "repair-index");
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.err, HasSubstr("manager cycle"));
  EXPECT_THAT(refused.err, HasSubstr("nothing was changed"));
}

// Every 'pulse-schema X' / 'pulse-orgdata X' named anywhere in the code is
// a command of that binary (its usage lists it).
TEST_F(OperatorCommandsTest, EveryCommandNamedInTheSourcesExists) {
  std::set<std::pair<std::string, std::string>> named;
  for (const char* root : {"libs", "services"}) {
    for (const auto& entry : std::filesystem::recursive_directory_iterator(
             absl::StrCat(PULSE_SOURCE_DIR, "/", root))) {
      if (entry.path().extension() != ".cc" &&
          entry.path().extension() != ".h") {
        continue;
      }
      std::ifstream in(entry.path());
      std::stringstream text;
      text << in.rdbuf();
      for (const auto& c : NamedCommands(text.str())) named.insert(c);
    }
  }
  ASSERT_FALSE(named.empty());
  for (const auto& [binary, command] : named) {
    RunResult usage = RunProcess({Binary(binary)}, dir_.path());
    EXPECT_THAT(usage.err + usage.out,
                HasSubstr(absl::StrCat("  ", command, " ")))
        << "'pulse-" << binary << " " << command << "' is named in the code "
        << "but is not a command";
  }
}

TEST_F(OperatorCommandsTest, EveryBinaryPrintsItsNameAndVersion) {
  for (const char* binary :
       {PULSE_SCHEMA_BIN, PULSE_ORGDATA_BIN, PULSE_CLIENT_BIN}) {
    RunResult version = RunProcess({binary, "--version"}, dir_.path());
    const std::string name = std::filesystem::path(binary).filename().string();
    EXPECT_EQ(version.exit_code, 0) << binary;
    EXPECT_THAT(version.out,
                ::testing::MatchesRegex(name + " [0-9]+\\.[0-9]+\\.[0-9]+\n"))
        << binary;
  }
}

}  // namespace
}  // namespace pulse
