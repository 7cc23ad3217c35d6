#include "libs/common/grpc_util.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "libs/common/log.h"

namespace pulse {
namespace {

// An import's error list fits (trailers stay under clients' 8 KiB).
constexpr size_t kMaxStatusMessage = 4096;
constexpr absl::string_view kBearerPrefix = "Bearer ";

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  std::string message(status.message().substr(0, kMaxStatusMessage));
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), message);
}

void ApplyServerDefaults(grpc::ServerBuilder* builder) {
  builder->SetMaxReceiveMessageSize(4 * 1024 * 1024);
  builder->SetMaxSendMessageSize(4 * 1024 * 1024);
  builder->AddChannelArgument(GRPC_ARG_MAX_METADATA_SIZE, 16 * 1024);
  builder->AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 30000);
  builder->AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  builder->AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder->AddChannelArgument(
      GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10000);
  builder->AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 2);
  // The sync server retires worker threads beyond its poller limit after
  // each call; under concurrent load it would create and destroy a thread
  // per call. Keep enough of them.
  builder->SetSyncServerOption(
      grpc::ServerBuilder::SyncServerOption::MIN_POLLERS, 2);
  builder->SetSyncServerOption(
      grpc::ServerBuilder::SyncServerOption::MAX_POLLERS, 64);
}

grpc::ChannelArguments ClientChannelArguments() {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 30000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetMaxReceiveMessageSize(16 * 1024 * 1024);
  return args;
}

namespace {

absl::StatusOr<std::string> ReadPem(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const std::string& cert_path, const std::string& key_path) {
  if (cert_path.empty() && key_path.empty()) {
    return grpc::InsecureServerCredentials();
  }
  if (cert_path.empty() || key_path.empty()) {
    return absl::InvalidArgumentError(
        "TLS needs both a certificate (--tls_cert) and its key (--tls_key)");
  }
  auto cert = ReadPem(cert_path);
  if (!cert.ok()) return cert.status();
  auto key = ReadPem(key_path);
  if (!key.ok()) return key.status();
  grpc::SslServerCredentialsOptions options;
  options.pem_key_cert_pairs.push_back({*key, *cert});
  return grpc::SslServerCredentials(options);
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>>
MakeChannelCredentials(const std::string& ca_path) {
  if (ca_path.empty()) return grpc::InsecureChannelCredentials();
  auto ca = ReadPem(ca_path);
  if (!ca.ok()) return ca.status();
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = *ca;
  return grpc::SslCredentials(options);
}

bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  // Compare over the longer length so the time does not reveal where the
  // first difference is; the length difference itself is folded in.
  const size_t n = std::max(a.size(), b.size());
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? a[i] : 0;
    const unsigned char y = i < b.size() ? b[i] : 0;
    diff |= x ^ y;
  }
  return diff == 0;
}

absl::Status CheckAdminToken(const grpc::ServerContext& context,
                             absl::string_view admin_token) {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) {
    return absl::UnauthenticatedError(
        "this call changes the schema: send metadata 'authorization: Bearer "
        "<admin token>'");
  }
  absl::string_view value(it->second.data(), it->second.size());
  if (!absl::StartsWith(value, kBearerPrefix)) {
    return absl::UnauthenticatedError(
        "the authorization metadata must read 'Bearer <admin token>'");
  }
  if (admin_token.empty()) {
    return absl::PermissionDeniedError(
        "schema changes over gRPC are disabled: the server was started "
        "without an admin token");
  }
  if (!ConstantTimeEquals(value.substr(kBearerPrefix.size()), admin_token)) {
    return absl::PermissionDeniedError("the admin token is not valid");
  }
  return absl::OkStatus();
}

const char* StatusCodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::UNKNOWN:
      return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED:
      return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS:
      return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    default:
      return "UNKNOWN";
  }
}

RequestLog::RequestLog(absl::string_view method,
                       const grpc::ServerContextBase& context)
    : method_(method), peer_(context.peer()), start_(absl::Now()) {}

grpc::Status RequestLog::Finish(grpc::Status status) {
  status_ = status;
  return status;
}

RequestLog::~RequestLog() {
  std::string line = absl::StrCat(
      "rpc method=", method_, " peer=", peer_,
      " status=", StatusCodeName(status_.error_code()),
      " duration_ms=", absl::ToDoubleMilliseconds(absl::Now() - start_));
  if (items_sent_ >= 0) absl::StrAppend(&line, " sent=", items_sent_);
  if (!status_.ok()) {
    absl::StrAppend(&line, " error=\"", status_.error_message(), "\"");
  }
  LogLineSoon(line);
}

}  // namespace pulse
