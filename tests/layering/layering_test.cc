// The source tree's layers, checked: libraries never reach up into the
// services, the data libraries know nothing of gRPC, and none of them uses
// SQLiteCpp (whose exceptions would cross libraries).
// Every target sees the whole source root, so only this test stops a wrong
// include.
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace {

namespace fs = std::filesystem;

// "path:line: include" for each #include under `dir` whose target starts
// with one of `banned`.
std::vector<std::string> IncludesOf(const std::string& dir,
                                    const std::vector<std::string>& banned) {
  std::vector<std::string> found;
  const fs::path root = fs::path(PULSE_SOURCE_DIR) / dir;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    const std::string ext = entry.path().extension().string();
    if (!entry.is_regular_file() || (ext != ".h" && ext != ".cc")) continue;
    std::ifstream in(entry.path());
    std::string line;
    for (int n = 1; std::getline(in, line); ++n) {
      if (!absl::StartsWith(line, "#include ")) continue;
      const std::string target = line.substr(std::string("#include ").size());
      for (const std::string& b : banned) {
        if (absl::StartsWith(target, "\"" + b) ||
            absl::StartsWith(target, "<" + b)) {
          found.push_back(absl::StrCat(
              fs::relative(entry.path(), PULSE_SOURCE_DIR).string(), ":", n,
              ": ", line));
          break;
        }
      }
    }
  }
  return found;
}

TEST(LayeringTest, LibrariesDoNotIncludeServices) {
  EXPECT_THAT(IncludesOf("libs", {"services/"}), ::testing::IsEmpty());
}

TEST(LayeringTest, DataLibrariesDoNotIncludeGrpc) {
  for (const char* lib : {"libs/store", "libs/migrate", "libs/hierarchy",
                          "libs/seed", "libs/write"}) {
    EXPECT_THAT(
        IncludesOf(lib, {"grpc", "grpcpp/", "pulse/orgdata/", "pulse/schema/"}),
        ::testing::IsEmpty())
        << lib;
  }
}

// libs/store calls SQLite's C API and hands out its own Database and
// Statement, whose failures are statuses; SQLiteCpp is for the tests and
// the benchmark alone.
TEST(LayeringTest, NoLibraryOrServiceUsesSqliteCpp) {
  for (const char* dir :
       {"libs/common", "libs/store", "libs/migrate", "libs/hierarchy",
        "libs/seed", "libs/write", "services"}) {
    EXPECT_THAT(IncludesOf(dir, {"SQLiteCpp/"}), ::testing::IsEmpty()) << dir;
  }
}

}  // namespace
