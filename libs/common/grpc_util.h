#ifndef PULSE_LIBS_COMMON_GRPC_UTIL_H_
#define PULSE_LIBS_COMMON_GRPC_UTIL_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "grpcpp/grpcpp.h"

namespace pulse {

// Maps an absl::Status to a grpc::Status. The codes share numbers; the
// message is capped so a huge error cannot blow past metadata limits.
grpc::Status ToGrpcStatus(const absl::Status& status);

// Checks the call's `authorization: Bearer TOKEN` metadata against
// `admin_token` in constant time. UNAUTHENTICATED when the header is absent
// or not a bearer token, PERMISSION_DENIED when the token is wrong or the
// server has no admin token (admin calls disabled). Never echoes the token.
absl::Status CheckAdminToken(const grpc::ServerContext& context,
                             absl::string_view admin_token);

// The channel settings both servers use, chosen rather than inherited:
// inbound messages are capped at 4 MiB (a batch of writes or a piece of an
// import; reads are tiny) and metadata at 16 KiB; replies stay under the 4 MiB default (a subtree chunk is a
// few hundred KiB). Keepalive pings every 30 s find dead peers of long
// WatchRevision and StreamSubtree calls, and clients may ping every 10 s,
// even with no call open.
void ApplyServerDefaults(grpc::ServerBuilder* builder);

// The client-side counterpart, for channels that hold long streams.
grpc::ChannelArguments ClientChannelArguments();

// Server credentials: TLS from PEM files when both paths are set,
// plaintext when both are empty. INVALID_ARGUMENT when only one is set,
// NOT_FOUND when a file cannot be read.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const std::string& cert_path, const std::string& key_path);

// Client credentials: TLS trusting the PEM certificates in `ca_path` when
// set, plaintext otherwise. NOT_FOUND when the file cannot be read.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>>
MakeChannelCredentials(const std::string& ca_path);

// "OK", "NOT_FOUND", ... for logs.
const char* StatusCodeName(grpc::StatusCode code);

// Compares two strings in time that depends only on their lengths.
bool ConstantTimeEquals(absl::string_view a, absl::string_view b);

// Queues one line (LogLineSoon) when it goes out of scope: method, peer,
// status code, duration and, when set, the number of items sent.
class RequestLog {
 public:
  RequestLog(absl::string_view method, const grpc::ServerContextBase& context);
  ~RequestLog();
  RequestLog(const RequestLog&) = delete;
  RequestLog& operator=(const RequestLog&) = delete;

  // Records the status the handler returns and passes it through.
  grpc::Status Finish(grpc::Status status);
  void set_items_sent(int64_t n) { items_sent_ = n; }

 private:
  std::string method_;
  std::string peer_;
  absl::Time start_;
  grpc::Status status_;
  int64_t items_sent_ = -1;
};

}  // namespace pulse

#endif  // PULSE_LIBS_COMMON_GRPC_UTIL_H_
