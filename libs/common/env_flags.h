#ifndef PULSE_LIBS_COMMON_ENV_FLAGS_H_
#define PULSE_LIBS_COMMON_ENV_FLAGS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace pulse {

// The environment variable that backs flag `flag_name`: PULSE_ plus the
// name in upper case ("db" -> "PULSE_DB").
std::string EnvVarForFlag(absl::string_view flag_name);

// Parses the command line into absl flags after first setting each flag in
// `flag_names` from its environment variable, if set; the command line wins.
// Rewrites "-m" to "--message" so `new -m "text"` reads as in Alembic, and
// treats "-N" (a relative revision target) as a positional argument, placed
// after the others. Returns the positional arguments without argv[0]. Exits
// with status 2 and one line on stderr when a flag or an environment value does
// not parse.
std::vector<std::string> ParseFlagsWithEnv(
    int argc, char** argv, const std::vector<absl::string_view>& flag_names);

// Prints "PROGRAM: MESSAGE" on stderr and returns 1, the exit status of a
// command that failed.
int FailCommand(absl::string_view program, const absl::Status& status);

}  // namespace pulse

#endif  // PULSE_LIBS_COMMON_ENV_FLAGS_H_
