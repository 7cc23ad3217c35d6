#include "tests/test_util/subprocess.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/test_util/temp_dir.h"

extern char** environ;

namespace pulse::testing {

absl::StatusOr<std::unique_ptr<Subprocess>> Subprocess::Start(
    const std::vector<std::string>& argv, const std::string& output_dir,
    const std::vector<std::string>& env) {
  static std::atomic<int> counter{0};
  std::unique_ptr<Subprocess> p(new Subprocess());
  const int n = counter++;
  p->stdout_path_ = absl::StrCat(output_dir, "/proc", n, ".out");
  p->stderr_path_ = absl::StrCat(output_dir, "/proc", n, ".err");

  // Everything the child needs is prepared before fork: after it, only
  // async-signal-safe calls.
  std::vector<char*> args;
  for (const std::string& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> env_storage;
  for (char** e = environ; *e != nullptr; ++e) env_storage.emplace_back(*e);
  env_storage.insert(env_storage.end(), env.begin(), env.end());
  std::vector<char*> envp;
  for (std::string& e : env_storage) envp.push_back(e.data());
  envp.push_back(nullptr);
  int out = ::open(p->stdout_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  int err = ::open(p->stderr_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  int devnull = ::open("/dev/null", O_RDONLY);
  if (out < 0 || err < 0 || devnull < 0) {
    return absl::InternalError("cannot open subprocess output files");
  }
  pid_t pid = ::fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    ::dup2(devnull, 0);
    ::dup2(out, 1);
    ::dup2(err, 2);
    // Signals blocked by the test (e.g. gRPC threads) must not leak in.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execve(args[0], args.data(), envp.data());
    ::_exit(127);
  }
  ::close(out);
  ::close(err);
  ::close(devnull);
  p->pid_ = pid;
  return p;
}

Subprocess::~Subprocess() {
  if (pid_ > 0 && !exit_code_.has_value()) {
    ::kill(pid_, SIGKILL);
    Wait(absl::Seconds(10));
  }
}

void Subprocess::Signal(int sig) {
  if (pid_ > 0 && !exit_code_.has_value()) ::kill(pid_, sig);
}

std::optional<int> Subprocess::Wait(absl::Duration timeout) {
  if (exit_code_.has_value()) return exit_code_;
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      exit_code_ =
          WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return exit_code_;
    }
    if (absl::Now() >= deadline) return std::nullopt;
    absl::SleepFor(absl::Milliseconds(5));
  }
}

std::string Subprocess::Stdout() const { return ReadFile(stdout_path_); }
std::string Subprocess::Stderr() const { return ReadFile(stderr_path_); }

RunResult RunProcess(const std::vector<std::string>& argv,
                     const std::string& output_dir,
                     const std::vector<std::string>& env,
                     absl::Duration timeout) {
  RunResult result;
  auto p = Subprocess::Start(argv, output_dir, env);
  if (!p.ok()) {
    result.err = p.status().ToString();
    return result;
  }
  std::optional<int> code = (*p)->Wait(timeout);
  result.exit_code = code.value_or(-1);
  result.out = (*p)->Stdout();
  result.err = (*p)->Stderr();
  return result;
}

std::optional<int> WaitForListeningPort(Subprocess& process,
                                        absl::Duration timeout) {
  const std::string kMarker = " on port ";
  std::optional<int> port;
  WaitFor(
      [&] {
        const std::string err = process.Stderr();
        const size_t at = err.find(kMarker);
        if (at != std::string::npos) {
          int n = 0;
          const size_t start = at + kMarker.size();
          const size_t end = err.find_first_not_of("0123456789", start);
          if (absl::SimpleAtoi(err.substr(start, end - start), &n) && n > 0) {
            port = n;
            return true;
          }
        }
        return process.Wait(absl::ZeroDuration()).has_value();
      },
      timeout);
  return port;
}

}  // namespace pulse::testing
