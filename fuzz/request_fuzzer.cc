// libFuzzer target: request handling. The input is a serialized
// StreamSubtreeRequest, validated and run as the service would against a
// small real organisation; no input may crash it or break the stream's
// contract (each node once, depth within bounds, budget honoured).
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <set>
#include <string>

#include "libs/hierarchy/hierarchy.h"
#include "libs/migrate/migrator.h"
#include "libs/seed/seed.h"
#include "libs/store/pool.h"
#include "pulse/orgdata/v1/orgdata.pb.h"

namespace {

std::unique_ptr<pulse::store::ConnectionPool> pool;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  char dir[] = "/tmp/pulse_fuzz_XXXXXX";
  if (mkdtemp(dir) == nullptr) std::abort();
  const std::string db = std::string(dir) + "/fuzz.db";
  pulse::migrate::MigratorOptions options;
  options.db_path = db;
  auto m = pulse::migrate::Migrator::Create(PULSE_MIGRATIONS_DIR, options);
  if (!m.ok() || !(*m)->Upgrade("head").ok()) std::abort();
  if (!pulse::seed::SeedOrganisation(db, {300, 1}).ok()) std::abort();
  pulse::store::OpenOptions read_only;
  read_only.read_only = true;
  pool = std::make_unique<pulse::store::ConnectionPool>(db, read_only, 1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  pulse::orgdata::v1::StreamSubtreeRequest proto;
  if (!proto.ParseFromArray(data, static_cast<int>(size))) return 0;
  pulse::hierarchy::SubtreeRequest request;
  request.root_id = proto.root_id() % 400;  // Mostly real ids, some not.
  if (proto.root_id() < 0) request.root_id = proto.root_id();
  request.max_depth = proto.max_depth();
  request.max_nodes = proto.max_nodes();
  request.order = proto.order() == pulse::orgdata::v1::ORDER_BREADTH_FIRST
                      ? pulse::hierarchy::Order::kBreadthFirst
                      : pulse::hierarchy::Order::kDepthFirst;
  request.with_direct_reports = proto.include_direct_reports();
  auto lease = pool->Acquire();
  if (!lease.ok()) std::abort();
  auto snapshot = pulse::hierarchy::Snapshot::Begin(*std::move(lease));
  if (!snapshot.ok()) std::abort();
  std::set<int64_t> seen;
  int64_t count = 0;
  bool truncated = false;
  absl::Status s = (*snapshot)->StreamSubtree(
      request,
      [&](pulse::hierarchy::Employee& e) {
        if (!seen.insert(e.id).second || e.depth < 0) std::abort();
        if (request.max_depth > 0 && e.depth > request.max_depth) std::abort();
        ++count;
        return true;
      },
      {}, &truncated);
  if (s.ok() && request.max_nodes > 0 && count > request.max_nodes)
    std::abort();
  if (!s.ok() && !absl::IsInvalidArgument(s) && !absl::IsNotFound(s)) {
    std::abort();
  }
  return 0;
}
