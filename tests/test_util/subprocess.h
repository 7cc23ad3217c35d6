#ifndef PULSE_TESTS_TEST_UTIL_SUBPROCESS_H_
#define PULSE_TESTS_TEST_UTIL_SUBPROCESS_H_

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace pulse::testing {

// A child process whose stdout and stderr go to files in `output_dir`.
// The destructor kills it (SIGKILL) if it is still running.
class Subprocess {
 public:
  // `env` entries ("NAME=value") are added to the inherited environment.
  static absl::StatusOr<std::unique_ptr<Subprocess>> Start(
      const std::vector<std::string>& argv, const std::string& output_dir,
      const std::vector<std::string>& env = {});
  ~Subprocess();
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  pid_t pid() const { return pid_; }
  void Signal(int sig);
  // The exit code (128 + signal for a signal death), or nullopt if it is
  // still running after `timeout`.
  std::optional<int> Wait(absl::Duration timeout);
  std::string Stdout() const;
  std::string Stderr() const;

 private:
  Subprocess() = default;
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
  std::string stdout_path_;
  std::string stderr_path_;
};

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs argv to completion (at most `timeout`, else exit_code -1 after a
// SIGKILL).
RunResult RunProcess(const std::vector<std::string>& argv,
                     const std::string& output_dir,
                     const std::vector<std::string>& env = {},
                     absl::Duration timeout = absl::Seconds(60));

// Waits until the process's stderr says "on port N" (the line both Pulse
// servers log once listening) and returns N; nullopt if the process exits
// or `timeout` passes first.
std::optional<int> WaitForListeningPort(Subprocess& process,
                                        absl::Duration timeout);

}  // namespace pulse::testing

#endif  // PULSE_TESTS_TEST_UTIL_SUBPROCESS_H_
