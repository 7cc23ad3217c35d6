#ifndef PULSE_LIBS_COMMON_SERVER_FLAGS_H_
#define PULSE_LIBS_COMMON_SERVER_FLAGS_H_

#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/flags/declare.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "grpcpp/security/server_credentials.h"

// Flags every Pulse server takes, defined once.
ABSL_DECLARE_FLAG(std::string, tls_cert);
ABSL_DECLARE_FLAG(std::string, tls_key);
ABSL_DECLARE_FLAG(absl::Duration, shutdown_grace);

namespace pulse {

// The names above, for ParseFlagsWithEnv's environment fallbacks.
std::vector<absl::string_view> ServerFlagNames();

// The start of a Pulse server binary's main: turns absl's mutex deadlock
// detection off (it walks a graph on every lock, and the serving path takes
// a few locks per request), keeps up to 256 MiB of freed memory per malloc
// heap instead of returning it to the kernel, sets the usage message, and
// parses the flags with environment fallbacks for ServerFlagNames() and
// `flags`. Returns the positional arguments.
std::vector<std::string> StartServerBinary(
    int argc, char** argv, const char* usage,
    std::initializer_list<absl::string_view> flags);

// INVALID_ARGUMENT unless `token` is empty (admin calls off) or at least
// 16 characters long: a short token is guessed.
absl::Status CheckAdminTokenStrength(absl::string_view token);

// TLS from --tls_cert/--tls_key, or plaintext (MakeServerCredentials).
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>>
ServerCredentialsFromFlags();

}  // namespace pulse

#endif  // PULSE_LIBS_COMMON_SERVER_FLAGS_H_
