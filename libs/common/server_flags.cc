#include "libs/common/server_flags.h"

#include <malloc.h>

#include "absl/flags/flag.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "libs/common/env_flags.h"
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

absl::Status CheckAdminTokenStrength(absl::string_view token) {
  constexpr size_t kMinimum = 16;
  if (token.empty() || token.size() >= kMinimum) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "--admin_token (PULSE_ADMIN_TOKEN) is ", token.size(),
      " characters; it must be at least ", kMinimum,
      " (e.g. export PULSE_ADMIN_TOKEN=$(openssl rand -hex 24)), or empty to "
      "turn admin calls off"));
}

std::vector<absl::string_view> ServerFlagNames() {
  return {"tls_cert", "tls_key", "shutdown_grace"};
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>>
ServerCredentialsFromFlags() {
  return MakeServerCredentials(absl::GetFlag(FLAGS_tls_cert),
                               absl::GetFlag(FLAGS_tls_key));
}

std::vector<std::string> StartServerBinary(
    int argc, char** argv, const char* usage,
    std::initializer_list<absl::string_view> flags) {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  // glibc gives the free memory at the top of a thread's heap back to the
  // kernel once it passes 128 KiB, and each page taken again costs a page
  // fault (dear in this VM). A subtree move allocates and frees ~40 MB of
  // statement journal on whichever gRPC thread runs it: with the default,
  // a third or more of the move went to faulting that memory back in
  // (docs/PERFORMANCE.md, "Memory given back"). Up to this much free
  // memory stays with each heap instead. Setting it fixes glibc's mmap
  // threshold too, which would otherwise rise with use: at its usual
  // ceiling, blocks under 32 MiB (a stream's buffers) come from the heap,
  // not from a fresh mapping each time.
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  absl::SetProgramUsageMessage(usage);
  std::vector<absl::string_view> names = ServerFlagNames();
  names.insert(names.end(), flags.begin(), flags.end());
  return ParseFlagsWithEnv(argc, argv, names);
}

}  // namespace pulse
