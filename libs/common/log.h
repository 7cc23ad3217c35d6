#ifndef PULSE_LIBS_COMMON_LOG_H_
#define PULSE_LIBS_COMMON_LOG_H_

#include "absl/strings/string_view.h"

namespace pulse {

// Writes one line to stderr: an RFC 3339 UTC timestamp, then `message`.
// Thread-safe: whole lines never interleave.
void LogLine(absl::string_view message);

}  // namespace pulse

#endif  // PULSE_LIBS_COMMON_LOG_H_
