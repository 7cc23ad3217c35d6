#ifndef PULSE_LIBS_COMMON_GRPC_SERVER_H_
#define PULSE_LIBS_COMMON_GRPC_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "grpcpp/grpcpp.h"

namespace pulse {

// Builds and starts a server the way both Pulse services run: `service`
// plus server reflection and the standard grpc.health.v1 service (whose
// descriptors are linked in so reflection can describe it), with
// ApplyServerDefaults, listening on `address`. Writes the bound port to
// `*port`. UNAVAILABLE when the address cannot be bound.
absl::StatusOr<std::unique_ptr<grpc::Server>> StartGrpcServer(
    const std::string& address,
    const std::shared_ptr<grpc::ServerCredentials>& credentials,
    grpc::Service* service, int* port);

// Sets the health of `service_name` and of the server as a whole.
void SetServing(grpc::Server* server, absl::string_view service_name,
                bool serving);

}  // namespace pulse

#endif  // PULSE_LIBS_COMMON_GRPC_SERVER_H_
