// pulse_grpcurl: the part of grpcurl that scripts/compose-test.sh needs
// (grpcurl is not packaged for Debian), over the reflection-only client:
//
//   pulse_grpcurl [-H 'NAME: VALUE']... [-d JSON] ADDR list
//   pulse_grpcurl [-H 'NAME: VALUE']... [-d JSON] ADDR SERVICE/METHOD
//
// Responses are printed as JSON, one per line. Exit 0 on OK; otherwise the
// status is printed as "ERROR: CODE_NAME: message" on stderr and the exit
// status is 1 (2 for usage errors).
#include <chrono>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "grpcpp/grpcpp.h"
#include "tests/test_util/reflection_client.h"

namespace {

int Usage() {
  std::fprintf(stderr,
               "usage: pulse_grpcurl [-H 'NAME: VALUE']... [-d JSON] ADDR "
               "list|SERVICE/METHOD\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::pair<std::string, std::string>> headers;
  std::string data = "{}";
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if ((arg == "-H" || arg == "-d") && i + 1 < argc) {
      const std::string value = argv[++i];
      if (arg == "-d") {
        data = value;
        continue;
      }
      std::pair<std::string, std::string> header =
          absl::StrSplit(value, absl::MaxSplits(':', 1));
      header.second = std::string(absl::StripAsciiWhitespace(header.second));
      headers.push_back(std::move(header));
    } else if (!arg.empty() && arg[0] == '-') {
      return Usage();
    } else {
      positional.push_back(arg);
    }
  }
  if (positional.size() != 2) return Usage();
  pulse::testing::ReflectionClient client(
      grpc::CreateChannel(positional[0], grpc::InsecureChannelCredentials()));
  if (positional[1] == "list") {
    auto services = client.ListServices();
    if (!services.ok()) {
      std::fprintf(stderr, "ERROR: %s\n", services.status().ToString().c_str());
      return 1;
    }
    for (const std::string& s : *services) std::printf("%s\n", s.c_str());
    return 0;
  }
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(60));
  for (const auto& [name, value] : headers) context.AddMetadata(name, value);
  auto responses =
      client.Call(positional[1], data, &context, [](const std::string& json) {
        std::printf("%s\n", json.c_str());
        return true;
      });
  if (!responses.ok()) {
    std::fprintf(stderr, "ERROR: %s\n", responses.status().ToString().c_str());
    return 1;
  }
  return 0;
}
