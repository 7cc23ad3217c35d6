#include "libs/common/signals.h"

#include <signal.h>
#include <unistd.h>

#include <thread>

#include "absl/strings/str_cat.h"
#include "libs/common/log.h"

namespace pulse {
namespace {

sigset_t TerminationSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  return signals;
}

}  // namespace

void BlockTerminationSignals() {
  sigset_t signals = TerminationSignals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
}

void ServeUntilSignal(const std::function<void(absl::Duration)>& shutdown,
                      const std::function<void()>& wait, absl::Duration grace) {
  std::thread waiter([&] {
    sigset_t signals = TerminationSignals();
    int sig = 0;
    sigwait(&signals, &sig);
    LogLine(absl::StrCat(sig == SIGINT ? "SIGINT" : "SIGTERM",
                         ": draining in-flight calls for up to ",
                         absl::FormatDuration(grace)));
    shutdown(grace);
  });
  wait();
  // If the server stopped on its own, wake the waiter so it can be joined.
  if (waiter.joinable()) {
    ::kill(::getpid(), SIGTERM);
    waiter.join();
  }
}

}  // namespace pulse
