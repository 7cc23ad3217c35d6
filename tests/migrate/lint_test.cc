// pulse-schema lint: each rule on a small script that breaks it, one that
// passes, and the project's own migrations.

#include "libs/migrate/lint.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/migrate/script.h"
#include "tests/test_util/migrations.h"
#include "tests/test_util/status_matchers.h"

namespace pulse::migrate {
namespace {

using Severity = LintFinding::Severity;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// The parent every case builds on: a table with an index, and the
// employees table with the index that reads need.
constexpr char kBase[] =
    "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, n INTEGER);\n"
    "CREATE INDEX t_name ON t (name);\n"
    "CREATE TABLE employees (id INTEGER PRIMARY KEY, manager_id INTEGER);\n"
    "CREATE INDEX employees_manager_id ON employees (manager_id);";

// A rebuild of t into `definition`, recreating its index unless told not
// to.
std::string Rebuild(const std::string& definition, bool index = true) {
  return absl::StrCat("CREATE TABLE t_new ", definition,
                      ";\nINSERT INTO t_new SELECT * FROM t;\nDROP TABLE t;\n"
                      "ALTER TABLE t_new RENAME TO t;\n",
                      index ? "CREATE INDEX t_name ON t (name);" : "");
}

// Lints the base and one revision on it, whose text is `script` (a whole
// file) or made of the parts.
std::vector<LintFinding> LintScript(const std::string& script) {
  std::vector<Script> scripts;
  auto base =
      ParseScript(testing::ScriptText("base", "none", kBase,
                                      "DROP TABLE employees; DROP TABLE t;"),
                  "base.sql");
  EXPECT_OK(base);
  scripts.push_back(*base);
  auto child = ParseScript(script, "child.sql");
  EXPECT_OK(child);
  scripts.push_back(*child);
  auto graph = RevisionGraph::Build(std::move(scripts));
  EXPECT_OK(graph);
  auto findings = Lint(*graph);
  EXPECT_OK(findings);
  std::vector<LintFinding> out;
  for (const LintFinding& f : *findings) {
    if (f.file == "child.sql") out.push_back(f);
  }
  return out;
}

std::vector<LintFinding> LintChild(const std::string& upgrade,
                                   const std::string& downgrade,
                                   bool breaking = false) {
  return LintScript(
      testing::ScriptText("child", "base", upgrade, downgrade, breaking));
}

// The finding of `rule`, or a failure listing what was found.
const LintFinding* Find(const std::vector<LintFinding>& findings,
                        const std::string& rule) {
  for (const LintFinding& f : findings) {
    if (f.rule == rule) return &f;
  }
  std::string all;
  for (const LintFinding& f : findings) {
    absl::StrAppend(&all, FormatFinding(f), "\n");
  }
  ADD_FAILURE() << "no " << rule << " finding among:\n" << all;
  return nullptr;
}

struct RuleCase {
  const char* rule;
  Severity severity;
  std::string upgrade;
  std::string downgrade;
  // In the finding's message and statement.
  const char* message;
  const char* statement;
};

class LintRuleTest : public ::testing::TestWithParam<RuleCase> {};

TEST_P(LintRuleTest, ScriptThatBreaksTheRuleIsReported) {
  const RuleCase& c = GetParam();
  const auto findings = LintChild(c.upgrade, c.downgrade);
  const LintFinding* f = Find(findings, c.rule);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->severity, c.severity) << FormatFinding(*f);
  EXPECT_EQ(f->file, "child.sql");
  EXPECT_THAT(f->message, HasSubstr(c.message));
  EXPECT_THAT(f->statement, HasSubstr(c.statement));
  EXPECT_EQ(HasErrors(findings), c.severity == Severity::kError);
}

const std::string kRecreateT =
    "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, n INTEGER);"
    " CREATE INDEX t_name ON t (name);";

INSTANTIATE_TEST_SUITE_P(
    Rules, LintRuleTest,
    ::testing::Values(
        RuleCase{"drop_table", Severity::kError, "DROP TABLE t;", kRecreateT,
                 "drops table t", "DROP TABLE t"},
        RuleCase{"drop_column", Severity::kError,
                 "ALTER TABLE t DROP COLUMN n;",
                 "ALTER TABLE t ADD COLUMN n INTEGER;", "drops column t.n",
                 "ALTER TABLE t DROP COLUMN n"},
        RuleCase{"rename", Severity::kError, "ALTER TABLE t RENAME TO u;",
                 "ALTER TABLE u RENAME TO t;", "renames table t",
                 "ALTER TABLE t RENAME TO u"},
        RuleCase{"type_change", Severity::kError,
                 Rebuild("(id INTEGER PRIMARY KEY, name TEXT, n TEXT)"),
                 Rebuild("(id INTEGER PRIMARY KEY, name TEXT, n INTEGER)"),
                 "changes the type of t.n from 'INTEGER' to 'TEXT'",
                 "ALTER TABLE t_new RENAME TO t"},
        RuleCase{"not_null_added", Severity::kError,
                 Rebuild("(id INTEGER PRIMARY KEY, name TEXT NOT NULL, n "
                         "INTEGER)"),
                 Rebuild("(id INTEGER PRIMARY KEY, name TEXT, n INTEGER)"),
                 "adds NOT NULL to t.name", "RENAME TO t"},
        RuleCase{"check_added", Severity::kError,
                 Rebuild("(id INTEGER PRIMARY KEY, name TEXT, n INTEGER "
                         "CHECK (n > 0))"),
                 Rebuild("(id INTEGER PRIMARY KEY, name TEXT, n INTEGER)"),
                 "adds a CHECK to t", "RENAME TO t"},
        RuleCase{"drop_needed_index", Severity::kError,
                 "DROP INDEX employees_manager_id;",
                 "CREATE INDEX employees_manager_id ON employees "
                 "(manager_id);",
                 "drops index employees_manager_id, which reads need",
                 "DROP INDEX employees_manager_id"},
        RuleCase{"not_in_transaction", Severity::kError,
                 "PRAGMA foreign_keys = OFF; CREATE TABLE u (id INTEGER);",
                 "DROP TABLE u;", "foreign_keys: off",
                 "PRAGMA foreign_keys = OFF"},
        RuleCase{"not_in_transaction", Severity::kError, "VACUUM;", "",
                 "cannot run inside the migrator's transaction", ""},
        RuleCase{"forgotten_object", Severity::kWarning,
                 Rebuild("(id INTEGER PRIMARY KEY, name TEXT, n INTEGER)",
                         /*index=*/false),
                 "CREATE INDEX t_name ON t (name);",
                 "table t was rebuilt without its index t_name", ""},
        RuleCase{"downgrade_drops_data", Severity::kWarning,
                 "CREATE TABLE u (id INTEGER PRIMARY KEY);", "DROP TABLE u;",
                 "the downgrade drops u", ""},
        RuleCase{"downgrade_mismatch", Severity::kWarning,
                 "CREATE INDEX t_n ON t (n);", "",
                 "does not restore the parent's schema: t_n differ", ""},
        RuleCase{"replay_failed", Severity::kError,
                 "ALTER TABLE nowhere ADD COLUMN x;", "",
                 "the upgrade does not run on its parents' schema", ""}),
    [](const ::testing::TestParamInfo<RuleCase>& info) {
      return absl::StrCat(info.param.rule, "_", info.index);
    });

TEST(LintTest, AdditiveRevisionPasses) {
  const auto findings = LintChild(
      "ALTER TABLE t ADD COLUMN note TEXT; CREATE INDEX t_n ON t (n);\n"
      "CREATE TABLE u (id INTEGER PRIMARY KEY);\n"
      "CREATE VIEW named AS SELECT id, name FROM t;",
      "DROP VIEW named; DROP TABLE u; DROP INDEX t_n;\n"
      "ALTER TABLE t DROP COLUMN note;");
  EXPECT_FALSE(HasErrors(findings));
  // Only the warning that the downgrade drops what the upgrade added.
  for (const LintFinding& f : findings) {
    EXPECT_EQ(f.rule, "downgrade_drops_data") << FormatFinding(f);
  }
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].rule, "downgrade_drops_data");
}

TEST(LintTest, BreakingRevisionMayDestroy) {
  const auto findings =
      LintChild("DROP TABLE t;", kRecreateT, /*breaking=*/true);
  EXPECT_FALSE(HasErrors(findings));
  const LintFinding* f = Find(findings, "drop_table");
  ASSERT_NE(f, nullptr);
  EXPECT_THAT(f->message, HasSubstr("allowed: the revision is breaking"));
}

TEST(LintTest, NolintWaivesANamedRuleAndRejectsAnUnknownOne) {
  const std::string rebuild =
      Rebuild("(id INTEGER PRIMARY KEY, name TEXT, n INTEGER CHECK (n > 0))");
  const std::string undo =
      Rebuild("(id INTEGER PRIMARY KEY, name TEXT, n INTEGER)");
  const std::string header =
      "-- revision: child\n-- down_revision: base\n-- description: d\n";
  EXPECT_THAT(LintScript(absl::StrCat(header, "-- nolint: check_added\n",
                                      "-- +upgrade\n", rebuild,
                                      "\n-- +downgrade\n", undo, "\n")),
              IsEmpty());
  const auto unknown = LintScript(
      absl::StrCat(header, "-- nolint: check_adeed\n", "-- +upgrade\n", rebuild,
                   "\n-- +downgrade\n", undo, "\n"));
  EXPECT_TRUE(HasErrors(unknown));
  ASSERT_NE(Find(unknown, "unknown_nolint"), nullptr);
  ASSERT_NE(Find(unknown, "check_added"), nullptr);
}

TEST(LintTest, MissingDowngradeIsAWarning) {
  const auto findings = LintScript(
      "-- revision: child\n-- down_revision: base\n-- description: d\n"
      "-- +upgrade\nCREATE TABLE u (id INTEGER);\n");
  EXPECT_FALSE(HasErrors(findings));
  const LintFinding* f = Find(findings, "missing_downgrade");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->severity, Severity::kWarning);
}

TEST(LintTest, ProjectMigrationsHaveNoErrors) {
  auto scripts = LoadScripts(testing::ProjectMigrations());
  ASSERT_OK(scripts);
  auto graph = RevisionGraph::Build(*std::move(scripts));
  ASSERT_OK(graph);
  auto findings = Lint(*graph);
  ASSERT_OK(findings);
  for (const LintFinding& f : *findings) {
    EXPECT_EQ(f.severity, Severity::kWarning) << FormatFinding(f);
  }
}

}  // namespace
}  // namespace pulse::migrate
