#ifndef PULSE_TESTS_TEST_UTIL_REFLECTION_CLIENT_H_
#define PULSE_TESTS_TEST_UTIL_REFLECTION_CLIENT_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor_database.h"
#include "google/protobuf/dynamic_message.h"
#include "grpcpp/grpcpp.h"

namespace pulse::testing {

// A client that knows nothing of the services it talks to until it asks the
// server through gRPC reflection, as grpcurl does: it lists services,
// describes them and calls methods with JSON in and JSON out.
// Not thread-safe.
class ReflectionClient {
 public:
  explicit ReflectionClient(std::shared_ptr<grpc::Channel> channel);

  // `grpcurl list`.
  absl::StatusOr<std::vector<std::string>> ListServices();
  // The service's descriptor, fetched with its files' dependencies.
  // NOT_FOUND when the server does not know it.
  absl::StatusOr<const google::protobuf::ServiceDescriptor*> FindService(
      const std::string& full_name);
  // `grpcurl describe SERVICE`: the service in .proto syntax.
  absl::StatusOr<std::string> Describe(const std::string& full_name);

  // Calls "package.Service/Method" with a JSON request. Unary methods give
  // one response, server-streaming ones one per message. `on_message` (may
  // be empty) sees each response as JSON as it arrives; return false from
  // it to cancel the call.
  absl::StatusOr<std::vector<std::string>> Call(
      const std::string& method, const std::string& request_json,
      grpc::ClientContext* context,
      const std::function<bool(const std::string&)>& on_message = {});

  // The status of the last Call that reached the server.
  const grpc::Status& last_status() const { return last_status_; }

 private:
  absl::Status FetchFileContaining(const std::string& symbol);
  absl::Status FetchFile(const std::string& filename);
  absl::Status AddFiles(const std::vector<std::string>& serialized);

  std::shared_ptr<grpc::Channel> channel_;
  google::protobuf::SimpleDescriptorDatabase database_;
  google::protobuf::DescriptorPool pool_;
  google::protobuf::DynamicMessageFactory factory_;
  std::vector<std::string> known_files_;
  grpc::Status last_status_;
};

}  // namespace pulse::testing

#endif  // PULSE_TESTS_TEST_UTIL_REFLECTION_CLIENT_H_
