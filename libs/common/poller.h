#ifndef PULSE_LIBS_COMMON_POLLER_H_
#define PULSE_LIBS_COMMON_POLLER_H_

#include <functional>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace pulse {

// Runs `tick` on its own thread every `interval`, and at once after
// Poke(), until Stop(). The services' monitors use it to re-read state
// they cannot be told about. Thread-safe.
class Poller {
 public:
  Poller(absl::Duration interval, std::function<void()> tick);
  // Stops the thread.
  ~Poller();
  Poller(const Poller&) = delete;
  Poller& operator=(const Poller&) = delete;

  void Start();
  // Asks for a tick now rather than at the end of the interval.
  void Poke();
  // Waits for a running tick to end and joins the thread. Idempotent.
  void Stop();

 private:
  void Loop();

  const absl::Duration interval_;
  std::function<void()> tick_;
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool poked_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace pulse

#endif  // PULSE_LIBS_COMMON_POLLER_H_
