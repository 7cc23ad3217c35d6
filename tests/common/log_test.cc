// The log queue: lines queued by LogLineSoon reach stderr on their own, in
// order with lines written at once, and are not lost at a normal exit.

#include "libs/common/log.h"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace pulse {
namespace {

using ::testing::HasSubstr;

// Points this process's stderr at a pipe for the life of the object.
class StderrPipe {
 public:
  StderrPipe() {
    EXPECT_EQ(::pipe(fds_), 0);
    // Room for everything a test writes, so no write waits on the reader.
    ::fcntl(fds_[1], F_SETPIPE_SZ, 1 << 20);
    std::fflush(stderr);
    saved_ = ::dup(STDERR_FILENO);
    ::dup2(fds_[1], STDERR_FILENO);
  }
  ~StderrPipe() {
    std::fflush(stderr);
    ::dup2(saved_, STDERR_FILENO);
    ::close(saved_);
    ::close(fds_[0]);
    ::close(fds_[1]);
  }

  // Reads until `text` has arrived or the deadline passes; all read so far.
  std::string ReadUntil(const std::string& text, absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (read_.find(text) == std::string::npos && absl::Now() < deadline) {
      pollfd p{fds_[0], POLLIN, 0};
      const int wait_ms = static_cast<int>(
          absl::ToInt64Milliseconds(deadline - absl::Now()) + 1);
      if (::poll(&p, 1, wait_ms) <= 0) continue;
      char buffer[4096];
      const ssize_t n = ::read(fds_[0], buffer, sizeof buffer);
      if (n > 0) read_.append(buffer, static_cast<size_t>(n));
    }
    return read_;
  }

 private:
  int fds_[2] = {-1, -1};
  int saved_ = -1;
  std::string read_;
};

TEST(LogTest, QueuedLinesReachStderrWithoutAFlush) {
  StderrPipe err;
  LogLineSoon("queued on its own");
  EXPECT_THAT(err.ReadUntil("queued on its own", absl::Seconds(10)),
              HasSubstr("Z queued on its own\n"));
}

TEST(LogTest, ALineWrittenAtOnceFollowsTheQueuedOnes) {
  StderrPipe err;
  LogLineSoon("first, queued");
  LogLine("second, at once");
  const std::string text = err.ReadUntil("second, at once", absl::Seconds(10));
  const size_t first = text.find("first, queued");
  const size_t second = text.find("second, at once");
  ASSERT_NE(first, std::string::npos) << text;
  ASSERT_NE(second, std::string::npos) << text;
  EXPECT_LT(first, second);
}

TEST(LogTest, ManyQueuedLinesArriveWholeAndInOrder) {
  StderrPipe err;
  for (int i = 0; i < 1000; ++i) LogLineSoon("line " + std::to_string(i));
  const std::string text = err.ReadUntil("line 999\n", absl::Seconds(10));
  size_t at = 0;
  for (int i = 0; i < 1000; ++i) {
    const std::string line = " line " + std::to_string(i) + "\n";
    const size_t found = text.find(line, at);
    ASSERT_NE(found, std::string::npos) << "line " << i << " missing";
    at = found + line.size();
  }
}

TEST(LogTest, QueuedLinesAreStampedAsLinesWrittenAtOnce) {
  // Queued lines are stamped when queued, in UTC to the millisecond, in
  // the same form as a line written at once; the stamps of a batch (which
  // cross seconds) never go back.
  StderrPipe err;
  const absl::Time start = absl::Now();
  for (int i = 0; i < 40; ++i) {
    LogLineSoon("stamped " + std::to_string(i));
    absl::SleepFor(absl::Milliseconds(37));  // Spreads them over seconds.
  }
  LogLine("stamped at once");
  const std::string text = err.ReadUntil("stamped at once", absl::Seconds(10));
  std::vector<absl::Time> stamps;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    ASSERT_THAT(std::string(line),
                ::testing::MatchesRegex("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:"
                                        "[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z .*"));
    absl::Time stamp;
    std::string error;
    ASSERT_TRUE(absl::ParseTime("%Y-%m-%dT%H:%M:%E3SZ",
                                std::string(line.substr(0, 24)), &stamp,
                                &error))
        << error;
    stamps.push_back(stamp);
  }
  ASSERT_EQ(stamps.size(), 41u) << text;
  EXPECT_GE(stamps.front(), absl::FromUnixMillis(absl::ToUnixMillis(start)));
  for (size_t i = 1; i < stamps.size(); ++i) {
    EXPECT_GE(stamps[i], stamps[i - 1]) << i;
  }
  EXPECT_LE(stamps.back() - stamps.front(), absl::Now() - start);
}

// Started again by QueuedLinesAreWrittenAtExit with PULSE_LOG_TEST_CHILD
// set, this binary queues a line and exits before any test runs.
const bool kRunAsChild = [] {
  if (std::getenv("PULSE_LOG_TEST_CHILD") == nullptr) return false;
  LogLineSoon("said just before exit");
  std::exit(0);
}();

// The exit handler writes what is still queued.
TEST(LogTest, QueuedLinesAreWrittenAtExit) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDERR_FILENO);
  posix_spawn_file_actions_addclose(&actions, fds[0]);
  char* argv[] = {const_cast<char*>("/proc/self/exe"), nullptr};
  // This process's environment (a sanitizer's options among it), and the
  // variable that makes the child a child.
  std::string child_env = "PULSE_LOG_TEST_CHILD=1";
  std::vector<char*> envp = {child_env.data()};
  for (char** e = environ; *e != nullptr; ++e) envp.push_back(*e);
  envp.push_back(nullptr);
  pid_t child = 0;
  ASSERT_EQ(posix_spawn(&child, "/proc/self/exe", &actions, nullptr, argv,
                        envp.data()),
            0);
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);
  std::string text;
  char buffer[4096];
  ssize_t n;
  while ((n = ::read(fds[0], buffer, sizeof buffer)) > 0) {
    text.append(buffer, static_cast<size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << text;
  EXPECT_THAT(text, HasSubstr("said just before exit\n"));
}

}  // namespace
}  // namespace pulse
