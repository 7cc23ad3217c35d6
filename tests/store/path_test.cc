// The subtree path format is defined once in C++ (libs/store/path.h), and
// the SQL that writes paths (the migrations' triggers, the integrity
// check and repair) writes the same.

#include "libs/store/path.h"

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "libs/store/store.h"
#include "tests/test_util/status_matchers.h"
#include "tests/test_util/temp_dir.h"

namespace pulse::store {
namespace {

namespace fs = std::filesystem;

std::string Read(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(PathFormatTest, SqlitesPrintfWritesWhatPathComponentWrites) {
  testing::TempDir dir;
  auto db = Open(dir.Join("p.db"), OpenOptions());
  ASSERT_OK(db);
  auto q = (*db)->Prepare(
      absl::StrCat("SELECT printf('", kPathComponentFormat, "', ?)"));
  ASSERT_OK(q);
  for (int64_t id :
       {int64_t{1}, int64_t{255}, int64_t{123456789}, kMaxPathId}) {
    q->Bind(1, id);
    auto row = q->Step();
    ASSERT_OK(row);
    ASSERT_TRUE(*row);
    EXPECT_EQ(q->Text(0), PathComponent(id)) << id;
    EXPECT_EQ(PathComponent(id).size(), kPathComponentChars) << id;
    EXPECT_EQ(ComponentId(PathComponent(7) + PathComponent(id), 1), id);
    EXPECT_EQ(ComponentId(PathComponent(7) + PathComponent(id), 2), 7);
    q->Reset();
  }
  EXPECT_EQ(ComponentId("0000000g", 1), -1);
  EXPECT_EQ(ComponentId("0001", 1), -1);
}

TEST(PathFormatTest, EverySqlPrintfOfAPathUsesTheFormat) {
  // Every printf('%...') in the migrations and in the libraries' SQL.
  const std::regex printf_call(R"(printf\('(%[^']*)')");
  int seen = 0;
  for (const char* root : {"migrations", "libs"}) {
    for (const auto& entry :
         fs::recursive_directory_iterator(fs::path(PULSE_SOURCE_DIR) / root)) {
      const std::string ext = entry.path().extension().string();
      if (ext != ".sql" && ext != ".cc") continue;
      const std::string text = Read(entry.path());
      for (auto it =
               std::sregex_iterator(text.begin(), text.end(), printf_call);
           it != std::sregex_iterator(); ++it) {
        const std::string format = (*it)[1];
        // Messages (ids in a refusal's text) are not paths.
        if (format.find(' ') != std::string::npos) continue;
        EXPECT_EQ(format, kPathComponentFormat) << entry.path();
        ++seen;
      }
    }
  }
  EXPECT_GT(seen, 5);
  // The triggers refuse ids above the largest a component holds.
  const std::string triggers = Read(fs::path(PULSE_SOURCE_DIR) / "migrations" /
                                    "7d2e4b9c1f60_subtree_index_writes.sql");
  EXPECT_NE(triggers.find(absl::StrCat("BETWEEN 1 AND ", kMaxPathId)),
            std::string::npos);
}

}  // namespace
}  // namespace pulse::store
