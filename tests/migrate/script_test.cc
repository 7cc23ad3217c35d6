#include "libs/migrate/script.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/test_util/migrations.h"
#include "tests/test_util/status_matchers.h"

namespace pulse::migrate {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(ParseScript, ReadsHeaderAndSections) {
  auto script = ParseScript(
      "-- revision: 6b1f0c2a9d41\n"
      "-- down_revision: 2e7c55a0f3b8\n"
      "-- description: add notes to employees\n"
      "-- Free text in the header is a comment.\n"
      "-- +upgrade\n"
      "ALTER TABLE employees ADD COLUMN notes TEXT;\n"
      "-- +downgrade\n"
      "ALTER TABLE employees DROP COLUMN notes;\n",
      "notes.sql");
  ASSERT_OK(script);
  EXPECT_EQ(script->id, "6b1f0c2a9d41");
  EXPECT_THAT(script->down_revisions, ElementsAre("2e7c55a0f3b8"));
  EXPECT_EQ(script->description, "add notes to employees");
  EXPECT_FALSE(script->breaking);
  EXPECT_THAT(script->upgrade_sql, HasSubstr("ADD COLUMN notes"));
  EXPECT_THAT(script->downgrade_sql, HasSubstr("DROP COLUMN notes"));
  EXPECT_TRUE(script->has_downgrade);
  EXPECT_EQ(script->file, "notes.sql");
  EXPECT_EQ(script->checksum.size(), 64u);
}

TEST(ParseScript, MergeBaseAndBreaking) {
  auto merge = ParseScript(
      "-- revision: m1\n-- down_revision: a, b\n-- breaking: true\n"
      "-- +upgrade\n",
      "m1.sql");
  ASSERT_OK(merge);
  EXPECT_THAT(merge->down_revisions, ElementsAre("a", "b"));
  EXPECT_TRUE(merge->breaking);
  EXPECT_FALSE(merge->has_downgrade);

  auto base = ParseScript(
      "-- revision: b0\n-- down_revision: none\n-- +upgrade\n", "b0.sql");
  ASSERT_OK(base);
  EXPECT_TRUE(base->down_revisions.empty());
}

TEST(ParseScript, ChecksumChangesWithAnyEdit) {
  const std::string text = testing::ScriptText("r1", "none", "SELECT 1;", "");
  auto a = ParseScript(text, "r1.sql");
  auto b = ParseScript(text + " ", "r1.sql");
  ASSERT_OK(a);
  ASSERT_OK(b);
  EXPECT_NE(a->checksum, b->checksum);
  EXPECT_EQ(Sha256Hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

struct Malformed {
  const char* text;
  const char* expected;  // Substring of the error, which names file:line.
};

class ParseScriptMalformed : public ::testing::TestWithParam<Malformed> {};

TEST_P(ParseScriptMalformed, FailsNamingFileAndLine) {
  auto script = ParseScript(GetParam().text, "bad.sql");
  ASSERT_FALSE(script.ok());
  EXPECT_EQ(script.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(script.status().message(), HasSubstr(GetParam().expected));
}

INSTANTIATE_TEST_SUITE_P(
    All, ParseScriptMalformed,
    ::testing::Values(
        Malformed{"-- down_revision: none\n-- +upgrade\n",
                  "bad.sql:1: missing '-- revision"},
        Malformed{"-- revision: r1\n-- +upgrade\n",
                  "missing '-- down_revision:'"},
        Malformed{"-- revision: r1\n-- down_revision: none\n",
                  "missing '-- +upgrade'"},
        Malformed{"-- revision: r1\n-- revision: r2\n-- down_revision: none\n"
                  "-- +upgrade\n",
                  "bad.sql:2: header key 'revision' repeats"},
        Malformed{"-- revision: r-1\n-- down_revision: none\n-- +upgrade\n",
                  "bad.sql:1: revision id 'r-1'"},
        Malformed{"-- revision: r1\n-- down_revison: none\n-- +upgrade\n",
                  "bad.sql:2: unknown header key 'down_revison'"},
        Malformed{"-- revision: r1\nCREATE TABLE t (x);\n-- +upgrade\n",
                  "bad.sql:2: SQL before '-- +upgrade'"},
        Malformed{"-- revision: r1\n-- down_revision: none\n-- +downgrade\n",
                  "bad.sql:3: '-- +downgrade' must follow"},
        Malformed{"-- revision: r1\n-- down_revision: none\n-- +upgrade\n"
                  "-- +upgrade\n",
                  "bad.sql:4: '-- +upgrade' appears twice"},
        Malformed{"-- revision: r1\n-- down_revision: none\n-- +upgrad\n",
                  "bad.sql:3: unknown section marker"},
        Malformed{"-- revision: r1\n-- down_revision: none\n-- breaking: yes\n"
                  "-- +upgrade\n",
                  "bad.sql:3: breaking must be true or false"},
        Malformed{"-- revision: r1\n-- down_revision: r1\n-- +upgrade\n",
                  "its own down_revision"},
        Malformed{"-- revision: r1\n-- down_revision: a, a\n-- +upgrade\n",
                  "listed twice"}));

TEST(LoadScripts, ReportsMissingDirectoryAndBadFile) {
  testing::TempDir dir;
  auto missing = LoadScripts(dir.Join("nope"));
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);

  testing::AddScript(dir.path(), "r1", "none", "SELECT 1;", "");
  testing::WriteFile(dir.Join("notes.txt"), "not a migration");
  auto loaded = LoadScripts(dir.path());
  ASSERT_OK(loaded);
  ASSERT_EQ(loaded->size(), 1u);

  testing::WriteFile(dir.Join("r2.sql"), "-- revision: r2\n");
  auto bad = LoadScripts(dir.path());
  EXPECT_THAT(bad.status().message(), HasSubstr("r2.sql:"));
}

}  // namespace
}  // namespace pulse::migrate
