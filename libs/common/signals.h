#ifndef PULSE_LIBS_COMMON_SIGNALS_H_
#define PULSE_LIBS_COMMON_SIGNALS_H_

#include <functional>

#include "absl/time/time.h"

namespace pulse {

// Blocks SIGTERM and SIGINT in the calling thread and every thread it
// starts later. Call first thing in main, before any thread exists, so
// that only WaitForTerminationSignal receives them.
void BlockTerminationSignals();

// Waits on a dedicated thread for SIGTERM or SIGINT, then calls
// `shutdown(grace)`; meanwhile calls `wait()` (the server's Wait) on this
// thread. Returns once the server has stopped.
void ServeUntilSignal(const std::function<void(absl::Duration)>& shutdown,
                      const std::function<void()>& wait, absl::Duration grace);

}  // namespace pulse

#endif  // PULSE_LIBS_COMMON_SIGNALS_H_
