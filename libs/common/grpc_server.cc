#include "libs/common/grpc_server.h"

#include "absl/strings/str_cat.h"
#include "grpc/health/v1/health.pb.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "libs/common/grpc_util.h"

namespace pulse {

absl::StatusOr<std::unique_ptr<grpc::Server>> StartGrpcServer(
    const std::string& address,
    const std::shared_ptr<grpc::ServerCredentials>& credentials,
    grpc::Service* service, int* port) {
  // gRPC's built-in health service has no C++ descriptors; touching ours
  // links them in, so reflection can describe grpc.health.v1.Health too.
  grpc::health::v1::HealthCheckRequest::descriptor();
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  ApplyServerDefaults(&builder);
  builder.AddListeningPort(address, credentials, port);
  builder.RegisterService(service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || *port == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", address));
  }
  return server;
}

void SetServing(grpc::Server* server, absl::string_view service_name,
                bool serving) {
  grpc::HealthCheckServiceInterface* health = server->GetHealthCheckService();
  health->SetServingStatus(std::string(service_name), serving);
  health->SetServingStatus(serving);
}

}  // namespace pulse
