#ifndef PULSE_LIBS_COMMON_LOG_H_
#define PULSE_LIBS_COMMON_LOG_H_

#include "absl/strings/string_view.h"

namespace pulse {

// Writes one line to stderr at once: an RFC 3339 UTC timestamp, then
// `message`. Lines queued by LogLineSoon are written first, so the order
// holds. Thread-safe: whole lines never interleave.
void LogLine(absl::string_view message);

// Queues one line, stamped now, for a background thread that writes the
// queue to stderr in one write within about 50 ms (at once past 64 KiB).
// For the per-call lines of a busy server, which would otherwise cost a
// system call and a time-zone conversion each. The queue is written when
// the process exits normally; a crash loses at most its last 50 ms.
void LogLineSoon(absl::string_view message);

// Writes the queue now.
void FlushLog();

}  // namespace pulse

#endif  // PULSE_LIBS_COMMON_LOG_H_
