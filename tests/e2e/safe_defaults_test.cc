// What a new user gets without configuring anything: no known admin token,
// nothing published beyond loopback, no build trees or databases in the
// image's build context.

#include <fstream>
#include <sstream>

#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/test_util/subprocess.h"
#include "tests/test_util/temp_dir.h"

namespace pulse {
namespace {

using ::testing::HasSubstr;
using testing::RunProcess;
using testing::RunResult;

TEST(SafeDefaultsTest, BothServersRefuseAShortAdminToken) {
  testing::TempDir dir;
  for (const char* binary : {PULSE_SCHEMA_BIN, PULSE_ORGDATA_BIN}) {
    RunResult by_flag =
        RunProcess({binary, "serve", "--listen=127.0.0.1:0",
                    "--db=" + dir.Join("pulse.db"), "--admin_token=change-me"},
                   dir.path(), {}, absl::Seconds(20));
    EXPECT_EQ(by_flag.exit_code, 2) << binary;
    EXPECT_THAT(by_flag.err, HasSubstr("must be at least 16")) << binary;
    RunResult by_env =
        RunProcess({binary, "serve", "--listen=127.0.0.1:0",
                    "--db=" + dir.Join("pulse.db")},
                   dir.path(), {"PULSE_ADMIN_TOKEN=short"}, absl::Seconds(20));
    EXPECT_EQ(by_env.exit_code, 2) << binary;
  }
}

TEST(SafeDefaultsTest, ComposeStackHasNoKnownTokenAndPublishesOnLoopback) {
  testing::TempDir dir;
  RunResult config = RunProcess(
      {"/usr/bin/env", "-u", "PULSE_ADMIN_TOKEN", "-u", "PULSE_BIND",
       "docker-compose", "-f",
       std::string(PULSE_SOURCE_DIR) + "/docker-compose.yml", "config"},
      dir.path());
  ASSERT_EQ(config.exit_code, 0) << config.err;
  int tokens = 0, ports = 0;
  for (absl::string_view line : absl::StrSplit(config.out, '\n')) {
    if (absl::StrContains(line, "PULSE_ADMIN_TOKEN:")) {
      ++tokens;
      EXPECT_THAT(std::string(line), HasSubstr("''")) << "a default token";
    }
    if (absl::StrContains(line, "/tcp")) {  // A published port.
      ++ports;
      EXPECT_THAT(std::string(line), HasSubstr("127.0.0.1:")) << line;
    }
  }
  EXPECT_EQ(tokens, 2);
  EXPECT_EQ(ports, 2);
}

TEST(SafeDefaultsTest, DockerignoreKeepsBuildsDataAndGitOutOfTheContext) {
  std::ifstream in(std::string(PULSE_SOURCE_DIR) + "/.dockerignore");
  ASSERT_TRUE(in.good()) << "no .dockerignore";
  std::stringstream text;
  text << in.rdbuf();
  std::vector<std::string> lines = absl::StrSplit(text.str(), '\n');
  for (const char* pattern : {".git", "build", "data", "*.db", "*.db-wal"}) {
    EXPECT_NE(std::find(lines.begin(), lines.end(), pattern), lines.end())
        << pattern;
  }
}

}  // namespace
}  // namespace pulse
