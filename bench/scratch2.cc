#include <cstdio>
#include "absl/time/clock.h"
#include "grpcpp/grpcpp.h"
#include "pulse/orgdata/v1/orgdata.grpc.pb.h"
using namespace pulse::orgdata::v1;
int main(int argc, char** argv) {
  grpc::ChannelArguments args; args.SetMaxReceiveMessageSize(64<<20);
  auto ch = grpc::CreateCustomChannel(argv[1], grpc::InsecureChannelCredentials(), args);
  auto stub = OrgDataService::NewStub(ch);
  for (int i = 0; i < (argc > 3 ? atoi(argv[3]) : 8); ++i) {
    grpc::ClientContext ctx; StreamSubtreeRequest r; r.set_root_id(atoi(argv[2]));
    absl::Time t0 = absl::Now();
    auto rd = stub->StreamSubtree(&ctx, r);
    SubtreeChunk c; int n = 0; double first = 0, second = 0;
    while (rd->Read(&c)) { ++n; if (n == 1) first = absl::ToDoubleMilliseconds(absl::Now() - t0); if (n == 2) second = absl::ToDoubleMilliseconds(absl::Now() - t0);}
    auto st = rd->Finish();
    std::printf("first %.2f ms second %.2f total %.1f ms chunks %d ok %d\n", first, second, absl::ToDoubleMilliseconds(absl::Now() - t0), n, st.ok());
  }
}
