#ifndef PULSE_LIBS_COMMON_SERVER_FLAGS_H_
#define PULSE_LIBS_COMMON_SERVER_FLAGS_H_

#include <memory>
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

// TLS from --tls_cert/--tls_key, or plaintext (MakeServerCredentials).
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>>
ServerCredentialsFromFlags();

}  // namespace pulse

#endif  // PULSE_LIBS_COMMON_SERVER_FLAGS_H_
