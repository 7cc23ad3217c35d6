#include "libs/common/env_flags.h"

#include <cstdio>
#include <cstdlib>

#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace pulse {

std::string EnvVarForFlag(absl::string_view flag_name) {
  return absl::StrCat("PULSE_", absl::AsciiStrToUpper(flag_name));
}

std::vector<std::string> ParseFlagsWithEnv(
    int argc, char** argv, const std::vector<absl::string_view>& flag_names) {
  for (absl::string_view name : flag_names) {
    const std::string var = EnvVarForFlag(name);
    const char* value = std::getenv(var.c_str());
    if (value == nullptr) continue;
    absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    if (flag == nullptr) continue;
    std::string error;
    if (!flag->ParseFrom(value, &error)) {
      std::fprintf(stderr, "error: %s=%s: %s\n", var.c_str(), value,
                   error.c_str());
      std::exit(2);
    }
  }
  // "-1" is a relative revision target, not a flag: keep it away from the
  // flag parser and hand it back as a positional argument.
  std::vector<char*> args = {argv[0]};
  std::vector<std::string> relative_targets;
  static char kMessageFlag[] = "--message";
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg(argv[i]);
    int n = 0;
    if (arg == "-m") {
      args.push_back(kMessageFlag);
    } else if (arg.size() > 1 && arg[0] == '-' &&
               absl::SimpleAtoi(arg.substr(1), &n)) {
      relative_targets.emplace_back(arg);
    } else {
      args.push_back(argv[i]);
    }
  }
  // --help lists the flags Pulse defines (absl's default matches the
  // source file to the program's name, which none of ours do).
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = [](absl::string_view file) {
    return absl::StrContains(file, "services/") ||
           absl::StrContains(file, "libs/common/");
  };
  usage.contains_helpshort_flags = usage.contains_help_flags;
  // --version: "pulse-schema 0.2.0".
  const std::string program(absl::string_view(argv[0]).substr(
      absl::string_view(argv[0]).rfind('/') + 1));
  usage.version_string = [program] {
    return absl::StrCat(program, " ", PULSE_VERSION, "\n");
  };
  absl::SetFlagsUsageConfig(usage);
  std::vector<char*> positional =
      absl::ParseCommandLine(static_cast<int>(args.size()), args.data());
  std::vector<std::string> out(positional.begin() + 1, positional.end());
  out.insert(out.end(), relative_targets.begin(), relative_targets.end());
  return out;
}

int FailCommand(absl::string_view program, const absl::Status& status) {
  std::fprintf(stderr, "%.*s: %.*s\n", static_cast<int>(program.size()),
               program.data(), static_cast<int>(status.message().size()),
               status.message().data());
  return 1;
}

}  // namespace pulse
