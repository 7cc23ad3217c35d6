#include <atomic>
#include <cstdio>
#include <random>
#include <thread>
#include <vector>
#include <algorithm>
#include "absl/time/clock.h"
#include "grpcpp/grpcpp.h"
#include "SQLiteCpp/SQLiteCpp.h"
#include "pulse/orgdata/v1/orgdata.grpc.pb.h"
using namespace pulse::orgdata::v1;
int main(int argc, char** argv) {
  std::vector<int64_t> managers;
  { SQLite::Database db(argv[2]); SQLite::Statement q(db, "SELECT DISTINCT manager_id FROM employees WHERE manager_id IS NOT NULL");
    while (q.executeStep()) managers.push_back(q.getColumn(0).getInt64()); }
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int i = 0; i < 4; ++i) { grpc::ChannelArguments a; a.SetInt("grpc.channel_id", i); channels.push_back(grpc::CreateCustomChannel(argv[1], grpc::InsecureChannelCredentials(), a)); }
  std::atomic<bool> stop{false}; std::vector<std::vector<double>> lat(32); std::vector<std::thread> th;
  absl::Time start = absl::Now();
  for (int c = 0; c < 32; ++c) th.emplace_back([&, c] {
    auto stub = OrgDataService::NewStub(channels[c % 4]); std::mt19937_64 rng(c + 1);
    StreamSubtreeRequest r; r.set_max_depth(2);
    while (!stop) { r.set_root_id(managers[rng() % managers.size()]); grpc::ClientContext ctx; absl::Time t0 = absl::Now();
      auto rd = stub->StreamSubtree(&ctx, r); SubtreeChunk ch; while (rd->Read(&ch)) {} if (!rd->Finish().ok()) { std::printf("fail\n"); exit(1);} lat[c].push_back(absl::ToDoubleMilliseconds(absl::Now() - t0)); }
  });
  absl::SleepFor(absl::Seconds(argc > 3 ? atoi(argv[3]) : 5)); stop = true; for (auto& t : th) t.join();
  std::vector<double> all; for (auto& l : lat) all.insert(all.end(), l.begin(), l.end()); std::sort(all.begin(), all.end());
  std::printf("%.0f streams/s p50 %.2f p99 %.2f\n", all.size() / absl::ToDoubleSeconds(absl::Now() - start), all[all.size()/2], all[all.size()*99/100]);
}
