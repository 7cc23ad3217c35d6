#include "libs/migrate/file_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace pulse::migrate {

absl::StatusOr<std::unique_ptr<FileLock>> FileLock::Acquire(
    const std::string& path, absl::Duration timeout) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot open migration lock file ", path, ": ", std::strerror(errno)));
  }
  const absl::Time deadline = absl::Now() + timeout;
  while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK && errno != EINTR) {
      std::string error = std::strerror(errno);
      ::close(fd);
      return absl::UnavailableError(
          absl::StrCat("cannot lock ", path, ": ", error));
    }
    if (absl::Now() >= deadline) {
      char holder[32] = {0};
      ssize_t n = ::pread(fd, holder, sizeof(holder) - 1, 0);
      ::close(fd);
      return absl::AbortedError(absl::StrCat(
          "another migration (pid ",
          n > 0 ? absl::StripAsciiWhitespace(holder) : "unknown",
          ") holds the lock ", path, "; gave up after ",
          absl::FormatDuration(timeout), ", try again when it has finished"));
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  const std::string pid = absl::StrCat(::getpid(), "\n");
  if (::ftruncate(fd, 0) == 0) {
    // The pid is only a hint for error messages; failing to write it is
    // harmless.
    [[maybe_unused]] ssize_t written = ::pwrite(fd, pid.data(), pid.size(), 0);
  }
  return std::unique_ptr<FileLock>(new FileLock(fd));
}

absl::StatusOr<bool> FileLock::IsHeld(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return false;
    return absl::UnavailableError(absl::StrCat(
        "cannot open migration lock file ", path, ": ", std::strerror(errno)));
  }
  int rc;
  do {
    rc = ::flock(fd, LOCK_SH | LOCK_NB);
  } while (rc != 0 && errno == EINTR);
  const bool held = rc != 0 && errno == EWOULDBLOCK;
  const std::string error = rc != 0 && !held ? std::strerror(errno) : "";
  if (rc == 0) ::flock(fd, LOCK_UN);
  ::close(fd);
  if (!error.empty()) {
    return absl::UnavailableError(
        absl::StrCat("cannot test the lock on ", path, ": ", error));
  }
  return held;
}

FileLock::~FileLock() {
  ::flock(fd_, LOCK_UN);
  ::close(fd_);
}

}  // namespace pulse::migrate
