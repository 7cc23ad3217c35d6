#include "libs/common/server_flags.h"

#include "absl/flags/flag.h"
#include "libs/common/grpc_util.h"

ABSL_FLAG(std::string, tls_cert, "",
          "With serve: PEM certificate chain; with --tls_key, serve TLS only. "
          "Environment: PULSE_TLS_CERT.");
ABSL_FLAG(std::string, tls_key, "",
          "With serve: PEM private key of --tls_cert. Environment: "
          "PULSE_TLS_KEY.");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(5),
          "On SIGTERM or SIGINT, how long in-flight calls may run before they "
          "are cancelled. Environment: PULSE_SHUTDOWN_GRACE.");

namespace pulse {

std::vector<absl::string_view> ServerFlagNames() {
  return {"tls_cert", "tls_key", "shutdown_grace"};
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>>
ServerCredentialsFromFlags() {
  return MakeServerCredentials(absl::GetFlag(FLAGS_tls_cert),
                               absl::GetFlag(FLAGS_tls_key));
}

}  // namespace pulse
