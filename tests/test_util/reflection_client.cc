#include "tests/test_util/reflection_client.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/util/json_util.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "grpcpp/impl/client_unary_call.h"
#include "grpcpp/impl/rpc_method.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/proto_buffer_reader.h"
#include "grpcpp/support/proto_buffer_writer.h"
#include "grpcpp/support/sync_stream.h"

namespace pulse::testing {
namespace {

namespace refl = ::grpc::reflection::v1alpha;

absl::StatusOr<refl::ServerReflectionResponse> Ask(
    grpc::Channel* channel, const refl::ServerReflectionRequest& request) {
  auto stub = refl::ServerReflection::NewStub(
      std::shared_ptr<grpc::Channel>(channel, [](grpc::Channel*) {}));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  auto stream = stub->ServerReflectionInfo(&context);
  refl::ServerReflectionResponse response;
  if (!stream->Write(request) || !stream->Read(&response)) {
    stream->WritesDone();
    grpc::Status status = stream->Finish();
    return absl::UnavailableError(
        absl::StrCat("reflection call failed: ", status.error_message()));
  }
  stream->WritesDone();
  stream->Finish();
  if (response.has_error_response()) {
    return absl::Status(
        static_cast<absl::StatusCode>(response.error_response().error_code()),
        response.error_response().error_message());
  }
  return response;
}

}  // namespace

ReflectionClient::ReflectionClient(std::shared_ptr<grpc::Channel> channel)
    : channel_(std::move(channel)), pool_(&database_), factory_(&pool_) {}

absl::StatusOr<std::vector<std::string>> ReflectionClient::ListServices() {
  refl::ServerReflectionRequest request;
  request.set_list_services("*");
  auto response = Ask(channel_.get(), request);
  if (!response.ok()) return response.status();
  std::vector<std::string> out;
  for (const auto& s : response->list_services_response().service()) {
    out.push_back(s.name());
  }
  std::sort(out.begin(), out.end());
  return out;
}

absl::Status ReflectionClient::AddFiles(
    const std::vector<std::string>& serialized) {
  std::vector<std::string> missing;
  for (const std::string& bytes : serialized) {
    google::protobuf::FileDescriptorProto file;
    if (!file.ParseFromString(bytes)) {
      return absl::DataLossError("unparsable FileDescriptorProto");
    }
    if (std::find(known_files_.begin(), known_files_.end(), file.name()) !=
        known_files_.end()) {
      continue;
    }
    known_files_.push_back(file.name());
    for (const std::string& dep : file.dependency()) missing.push_back(dep);
    database_.Add(file);
  }
  for (const std::string& dep : missing) {
    if (std::find(known_files_.begin(), known_files_.end(), dep) ==
        known_files_.end()) {
      if (absl::Status s = FetchFile(dep); !s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

absl::Status ReflectionClient::FetchFile(const std::string& filename) {
  refl::ServerReflectionRequest request;
  request.set_file_by_filename(filename);
  auto response = Ask(channel_.get(), request);
  if (!response.ok()) return response.status();
  const auto& files =
      response->file_descriptor_response().file_descriptor_proto();
  return AddFiles(std::vector<std::string>(files.begin(), files.end()));
}

absl::Status ReflectionClient::FetchFileContaining(const std::string& symbol) {
  refl::ServerReflectionRequest request;
  request.set_file_containing_symbol(symbol);
  auto response = Ask(channel_.get(), request);
  if (!response.ok()) return response.status();
  const auto& files =
      response->file_descriptor_response().file_descriptor_proto();
  return AddFiles(std::vector<std::string>(files.begin(), files.end()));
}

absl::StatusOr<const google::protobuf::ServiceDescriptor*>
ReflectionClient::FindService(const std::string& full_name) {
  if (const auto* s = pool_.FindServiceByName(full_name)) return s;
  if (absl::Status s = FetchFileContaining(full_name); !s.ok()) return s;
  const auto* service = pool_.FindServiceByName(full_name);
  if (service == nullptr) {
    return absl::NotFoundError(absl::StrCat("no service ", full_name));
  }
  return service;
}

absl::StatusOr<std::string> ReflectionClient::Describe(
    const std::string& full_name) {
  auto service = FindService(full_name);
  if (!service.ok()) return service.status();
  return (*service)->DebugString();
}

absl::StatusOr<std::vector<std::string>> ReflectionClient::Call(
    const std::string& method, const std::string& request_json,
    grpc::ClientContext* context,
    const std::function<bool(const std::string&)>& on_message) {
  const size_t slash = method.rfind('/');
  if (slash == std::string::npos) {
    return absl::InvalidArgumentError("method must be package.Service/Method");
  }
  auto service = FindService(method.substr(0, slash));
  if (!service.ok()) return service.status();
  const auto* m = (*service)->FindMethodByName(method.substr(slash + 1));
  if (m == nullptr) {
    return absl::NotFoundError(absl::StrCat("no method ", method));
  }
  std::unique_ptr<google::protobuf::Message> request(
      factory_.GetPrototype(m->input_type())->New());
  auto parsed =
      google::protobuf::util::JsonStringToMessage(request_json, request.get());
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad request JSON: ", parsed.ToString()));
  }
  grpc::ByteBuffer request_buffer;
  bool own = false;
  grpc::GenericSerialize<grpc::ProtoBufferWriter, google::protobuf::Message>(
      *request, &request_buffer, &own);

  const std::string path = absl::StrCat("/", method);
  std::unique_ptr<google::protobuf::Message> response(
      factory_.GetPrototype(m->output_type())->New());
  std::vector<std::string> out;
  auto to_json = [&](grpc::ByteBuffer* buffer) -> absl::StatusOr<std::string> {
    response->Clear();
    grpc::Status s = grpc::GenericDeserialize<grpc::ProtoBufferReader,
                                              google::protobuf::Message>(
        buffer, response.get());
    if (!s.ok()) return absl::DataLossError(s.error_message());
    std::string json;
    google::protobuf::util::JsonPrintOptions options;
    options.always_print_primitive_fields = true;
    options.preserve_proto_field_names = true;
    auto printed =
        google::protobuf::util::MessageToJsonString(*response, &json, options);
    if (!printed.ok()) return absl::InternalError(printed.ToString());
    return json;
  };

  if (!m->client_streaming() && !m->server_streaming()) {
    grpc::internal::RpcMethod rpc(path.c_str(),
                                  grpc::internal::RpcMethod::NORMAL_RPC);
    grpc::ByteBuffer response_buffer;
    last_status_ = grpc::internal::BlockingUnaryCall(
        channel_.get(), rpc, context, request_buffer, &response_buffer);
    if (!last_status_.ok()) {
      return absl::Status(
          static_cast<absl::StatusCode>(last_status_.error_code()),
          last_status_.error_message());
    }
    auto json = to_json(&response_buffer);
    if (!json.ok()) return json.status();
    if (on_message) on_message(*json);
    out.push_back(*std::move(json));
    return out;
  }
  if (m->client_streaming()) {
    return absl::UnimplementedError("client streaming is not supported");
  }
  grpc::internal::RpcMethod rpc(path.c_str(),
                                grpc::internal::RpcMethod::SERVER_STREAMING);
  std::unique_ptr<grpc::ClientReader<grpc::ByteBuffer>> reader(
      grpc::internal::ClientReaderFactory<grpc::ByteBuffer>::Create(
          channel_.get(), rpc, context, request_buffer));
  grpc::ByteBuffer message;
  while (reader->Read(&message)) {
    auto json = to_json(&message);
    if (!json.ok()) {
      context->TryCancel();
      reader->Finish();
      return json.status();
    }
    if (on_message && !on_message(*json)) {
      context->TryCancel();
      break;
    }
    out.push_back(*std::move(json));
  }
  last_status_ = reader->Finish();
  if (!last_status_.ok() &&
      !(last_status_.error_code() == grpc::StatusCode::CANCELLED &&
        on_message)) {
    return absl::Status(
        static_cast<absl::StatusCode>(last_status_.error_code()),
        last_status_.error_message());
  }
  return out;
}

}  // namespace pulse::testing
