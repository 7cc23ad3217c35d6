#ifndef PULSE_TESTS_TEST_UTIL_TEMP_DIR_H_
#define PULSE_TESTS_TEST_UTIL_TEMP_DIR_H_

#include <functional>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace pulse::testing {

// A fresh directory under $TMPDIR (or /tmp), removed with its contents on
// destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // path()/name.
  std::string Join(absl::string_view name) const;

 private:
  std::string path_;
};

// Writes `text` to `path`, replacing it; aborts the test binary on failure.
void WriteFile(const std::string& path, absl::string_view text);
std::string ReadFile(const std::string& path);

// Polls `condition` every few milliseconds until it holds or `timeout`
// passes; returns its last value.
bool WaitFor(const std::function<bool()>& condition,
             absl::Duration timeout = absl::Seconds(10));

}  // namespace pulse::testing

#endif  // PULSE_TESTS_TEST_UTIL_TEMP_DIR_H_
