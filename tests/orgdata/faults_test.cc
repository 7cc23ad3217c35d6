// The org-data service under faults and bad input: missing, corrupt or
// busy databases, too many streams, extreme values, oversized metadata, a
// schema service that goes away and comes back.

#include <atomic>
#include <filesystem>
#include <limits>
#include <thread>

#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "libs/seed/seed.h"
#include "libs/store/store.h"
#include "pulse/orgdata/v1/orgdata.grpc.pb.h"
#include "services/orgdata/server.h"
#include "services/schema/server.h"
#include "tests/test_util/migrations.h"
#include "tests/test_util/project_db.h"
#include "tests/test_util/status_matchers.h"
#include "tests/test_util/temp_dir.h"

namespace pulse::orgdata {
namespace {

using ::grpc::health::v1::HealthCheckResponse;
using ::testing::AnyOf;
using ::testing::HasSubstr;

class FaultsTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (org_) {
      org_->Shutdown(absl::Seconds(1));
      org_->Wait();
    }
    if (schema_) {
      schema_->Shutdown(absl::Seconds(1));
      schema_->Wait();
    }
  }

  void MigrateAndSeed(int64_t employees) {
    ASSERT_OK(testing::MigrateToHead(db_path()));
    ASSERT_OK(seed::SeedOrganisation(db_path(), {employees, 3}));
  }

  void StartOrgData(int max_streams = 256, const std::string& schema = "") {
    Server::Options options;
    options.listen_address = "127.0.0.1:0";
    options.db_path = db_path();
    options.poll_interval = absl::Milliseconds(50);
    options.service = service_options_;
    options.service.max_streams = max_streams;
    options.schema_address = schema;
    org_ = std::make_unique<Server>();
    ASSERT_OK(org_->BuildAndStart(options));
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", org_->port()),
                                   grpc::InsecureChannelCredentials());
    stub_ = v1::OrgDataService::NewStub(channel_);
  }

  // Opens `n` streams of the whole organisation that read one chunk and
  // stop. Their flow-control window stays at its initial 64 KiB (no BDP
  // probing), so the server is held back by flow control, not buffering
  // ahead.
  void OpenStalledStreams(
      int n, std::vector<std::unique_ptr<grpc::ClientContext>>* contexts,
      std::vector<std::unique_ptr<grpc::ClientReader<v1::SubtreeChunk>>>*
          streams) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
    stalled_stub_ = v1::OrgDataService::NewStub(
        grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", org_->port()),
                                  grpc::InsecureChannelCredentials(), args));
    v1::StreamSubtreeRequest whole;
    whole.set_root_id(1);
    for (int i = 0; i < n; ++i) {
      contexts->push_back(std::make_unique<grpc::ClientContext>());
      streams->push_back(
          stalled_stub_->StreamSubtree(contexts->back().get(), whole));
      v1::SubtreeChunk chunk;
      ASSERT_TRUE(streams->back()->Read(&chunk)) << i;
    }
  }

  HealthCheckResponse::ServingStatus Health() {
    auto health = grpc::health::v1::Health::NewStub(channel_);
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    grpc::health::v1::HealthCheckRequest request;
    HealthCheckResponse response;
    if (!health->Check(&context, request, &response).ok()) {
      return HealthCheckResponse::UNKNOWN;
    }
    return response.status();
  }

  grpc::Status Stream(int64_t root, int32_t depth = 0, int64_t budget = 0,
                      int64_t* nodes = nullptr) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
    v1::StreamSubtreeRequest request;
    request.set_root_id(root);
    request.set_max_depth(depth);
    request.set_max_nodes(budget);
    auto reader = stub_->StreamSubtree(&context, request);
    v1::SubtreeChunk chunk;
    int64_t n = 0;
    while (reader->Read(&chunk)) n += chunk.nodes_size();
    if (nodes != nullptr) *nodes = n;
    return reader->Finish();
  }

  std::string db_path() const { return dir_.Join("pulse.db"); }

  testing::TempDir dir_;
  std::unique_ptr<Server> org_;
  std::unique_ptr<schema::Server> schema_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::OrgDataService::Stub> stub_;
  // Service options for the next StartOrgData.
  OrgDataServiceImpl::Options service_options_;
  // The channel of OpenStalledStreams' streams.
  std::unique_ptr<v1::OrgDataService::Stub> stalled_stub_;
};

TEST_F(FaultsTest, MissingDatabaseIsNotServingUntilItAppears) {
  StartOrgData();
  EXPECT_TRUE(testing::WaitFor(
      [&] { return Health() == HealthCheckResponse::NOT_SERVING; }));
  grpc::Status status = Stream(1);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(status.error_message(), HasSubstr("does not exist"));
  MigrateAndSeed(100);
  EXPECT_TRUE(testing::WaitFor(
      [&] { return Health() == HealthCheckResponse::SERVING; }));
  EXPECT_TRUE(Stream(1).ok());
}

TEST_F(FaultsTest, CorruptDatabaseIsAClearErrorNotACrash) {
  testing::WriteFile(db_path(), std::string(64 * 1024, 'x'));
  StartOrgData();
  EXPECT_TRUE(testing::WaitFor(
      [&] { return Health() == HealthCheckResponse::NOT_SERVING; }));
  grpc::Status status = Stream(1);
  EXPECT_THAT(status.error_code(),
              AnyOf(grpc::StatusCode::UNAVAILABLE, grpc::StatusCode::DATA_LOSS,
                    grpc::StatusCode::FAILED_PRECONDITION));
  EXPECT_THAT(status.error_message(), HasSubstr("not a database"));
  // Still answering.
  EXPECT_EQ(Health(), HealthCheckResponse::NOT_SERVING);
}

TEST_F(FaultsTest, UnopenableDatabasePathIsAClearError) {
  // A directory where the file should be: as unreadable as a file can be
  // for root, whom permission bits do not stop.
  std::filesystem::create_directory(db_path());
  StartOrgData();
  EXPECT_TRUE(testing::WaitFor(
      [&] { return Health() == HealthCheckResponse::NOT_SERVING; }));
  grpc::Status status = Stream(1);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(status.error_message(), HasSubstr(db_path()));
}

TEST_F(FaultsTest, LongWriterDoesNotBlockReads) {
  MigrateAndSeed(2000);
  StartOrgData();
  auto writer = store::Open(db_path(), store::OpenOptions());
  ASSERT_OK(writer);
  ASSERT_OK((*writer)->Exec("BEGIN IMMEDIATE"));
  ASSERT_OK(
      (*writer)->Exec("UPDATE employees SET title = 'Busy' WHERE id = 1"));
  int64_t nodes = 0;
  EXPECT_TRUE(Stream(1, 0, 0, &nodes).ok());
  EXPECT_EQ(nodes, 2000);
  EXPECT_OK((*writer)->Exec("ROLLBACK"));
}

TEST_F(FaultsTest, OrgDataConnectionsCannotWrite) {
  MigrateAndSeed(10);
  store::OpenOptions read_only;
  read_only.read_only = true;
  auto db = store::Open(db_path(), read_only);
  ASSERT_OK(db);
  const absl::Status refused = (*db)->Exec("DELETE FROM employees");
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition) << refused;
}

TEST_F(FaultsTest, StreamsPastTheLimitGetResourceExhausted) {
  MigrateAndSeed(20000);
  StartOrgData(/*max_streams=*/3);
  // Held streams: windows stay at the initial 64 KiB (no BDP probing), so
  // flow control, not buffering, keeps them open on the server.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  auto held_stub = v1::OrgDataService::NewStub(
      grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", org_->port()),
                                grpc::InsecureChannelCredentials(), args));
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::unique_ptr<grpc::ClientReader<v1::SubtreeChunk>>> slow;
  v1::StreamSubtreeRequest whole;
  whole.set_root_id(1);
  for (int i = 0; i < 3; ++i) {
    contexts.push_back(std::make_unique<grpc::ClientContext>());
    slow.push_back(held_stub->StreamSubtree(contexts.back().get(), whole));
    v1::SubtreeChunk chunk;
    ASSERT_TRUE(slow.back()->Read(&chunk));  // Then stop reading.
  }
  ASSERT_TRUE(testing::WaitFor([&] { return org_->active_streams() == 3; }));
  grpc::Status refused = Stream(1);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  // Other calls are not starved by the stuck streams.
  grpc::ClientContext context;
  v1::GetEmployeeRequest request;
  request.set_id(1);
  v1::Employee e;
  EXPECT_TRUE(stub_->GetEmployee(&context, request, &e).ok());
  for (auto& c : contexts) c->TryCancel();
  for (auto& r : slow) r->Finish();
  ASSERT_TRUE(testing::WaitFor([&] { return org_->active_streams() == 0; }));
  EXPECT_TRUE(Stream(1).ok());
}

TEST_F(FaultsTest, StuckClientsDoNotStarveFastOnes) {
  MigrateAndSeed(20000);
  StartOrgData(/*max_streams=*/256);
  // 150 clients that read one chunk of the whole organisation and stop.
  // Their flow-control window stays at its initial 64 KiB (no BDP probing),
  // so the server is held back by flow control, not buffering ahead.
  constexpr int kStuck = 150;
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::unique_ptr<grpc::ClientReader<v1::SubtreeChunk>>> stuck;
  OpenStalledStreams(kStuck, &contexts, &stuck);
  if (HasFatalFailure()) return;
  ASSERT_TRUE(
      testing::WaitFor([&] { return org_->active_streams() == kStuck; }));
  // 50 fast clients, at the same time, each get their whole stream.
  std::vector<std::thread> fast;
  std::atomic<int> complete{0};
  for (int i = 0; i < 50; ++i) {
    fast.emplace_back([&] {
      int64_t nodes = 0;
      if (Stream(1, 0, 0, &nodes).ok() && nodes == 20000) ++complete;
    });
  }
  for (auto& t : fast) t.join();
  EXPECT_EQ(complete.load(), 50);
  for (auto& c : contexts) c->TryCancel();
  for (auto& r : stuck) r->Finish();
  EXPECT_TRUE(testing::WaitFor([&] { return org_->active_streams() == 0; }));
}

TEST_F(FaultsTest, ExtremeValuesAreHandled) {
  MigrateAndSeed(300);
  StartOrgData();
  constexpr int64_t kMax64 = std::numeric_limits<int64_t>::max();
  constexpr int32_t kMax32 = std::numeric_limits<int32_t>::max();
  EXPECT_EQ(Stream(kMax64).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Stream(std::numeric_limits<int64_t>::min()).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  int64_t nodes = 0;
  EXPECT_TRUE(Stream(1, kMax32, kMax64, &nodes).ok());
  EXPECT_EQ(nodes, 300);
  EXPECT_EQ(Stream(1, std::numeric_limits<int32_t>::min()).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Stream(1, 0, std::numeric_limits<int64_t>::min()).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(Stream(1, 0, 1, &nodes).ok());
  EXPECT_EQ(nodes, 1);
}

TEST_F(FaultsTest, OversizedMetadataIsRefusedAndTheServerCarriesOn) {
  MigrateAndSeed(50);
  StartOrgData();
  grpc::ClientContext context;
  context.AddMetadata("x-padding", std::string(64 * 1024, 'a'));
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  v1::GetEmployeeRequest request;
  request.set_id(1);
  v1::Employee e;
  EXPECT_FALSE(stub_->GetEmployee(&context, request, &e).ok());
  // The server drops that connection; the channel reconnects and the next
  // calls are served.
  EXPECT_TRUE(testing::WaitFor([&] { return Stream(1).ok(); }));
}

TEST_F(FaultsTest, WatchReconnectsWhenTheSchemaServiceComesBack) {
  MigrateAndSeed(50);
  schema::Server::Options options;
  options.listen_address = "127.0.0.1:0";
  options.db_path = db_path();
  options.migrations_dir = testing::ProjectMigrations();
  schema_ = std::make_unique<schema::Server>();
  ASSERT_OK(schema_->BuildAndStart(options));
  const int port = schema_->port();
  StartOrgData(256, absl::StrCat("127.0.0.1:", port));
  ASSERT_TRUE(testing::WaitFor([&] { return org_->watching_schema(); }));

  schema_->Shutdown(absl::ZeroDuration());
  schema_->Wait();
  schema_.reset();
  ASSERT_TRUE(testing::WaitFor([&] { return !org_->watching_schema(); }));
  EXPECT_TRUE(Stream(1).ok());  // Reads that pass the database check go on.

  options.listen_address = absl::StrCat("127.0.0.1:", port);
  schema_ = std::make_unique<schema::Server>();
  ASSERT_OK(schema_->BuildAndStart(options));
  EXPECT_TRUE(testing::WaitFor([&] { return org_->watching_schema(); },
                               absl::Seconds(20)));
}

// Clients that stop reading lose their snapshots after --max_snapshot_age,
// so a writer's checkpoints go through; such a client, reading again,
// gets ABORTED saying why.
TEST_F(FaultsTest, StalledStreamsLoseTheirSnapshotsAndCheckpointsProceed) {
  MigrateAndSeed(20000);
  service_options_.max_snapshot_age = absl::Seconds(1);
  StartOrgData(/*max_streams=*/256);
  constexpr int kStuck = 150;
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::unique_ptr<grpc::ClientReader<v1::SubtreeChunk>>> stuck;
  OpenStalledStreams(kStuck, &contexts, &stuck);
  if (HasFatalFailure()) return;
  // A writer commits for twice the age limit.
  {
    SQLite::Database db(db_path(), SQLite::OPEN_READWRITE);
    db.setBusyTimeout(5000);
    const absl::Time end = absl::Now() + absl::Seconds(2);
    for (int64_t id = 900000; absl::Now() < end; ++id) {
      db.exec(absl::StrCat(
          "INSERT INTO employees (id, manager_id, full_name, email, "
          "hire_date) VALUES (",
          id, ", 1, 'W", id, "', 'w", id, "@x', '2024-01-01')"));
    }
  }
  EXPECT_TRUE(testing::WaitFor([&] { return org_->active_streams() == 0; }))
      << org_->active_streams() << " streams still hold a snapshot";
  // The last reads may still be ending, and the server's checkpointer may
  // be running: a full checkpoint succeeds soon, not only once the stalled
  // clients go away.
  EXPECT_TRUE(testing::WaitFor([&] {
    SQLite::Database db(db_path(), SQLite::OPEN_READWRITE);
    SQLite::Statement checkpoint(db, "PRAGMA wal_checkpoint(TRUNCATE)");
    return checkpoint.executeStep() && checkpoint.getColumn(0).getInt() == 0;
  })) << "the checkpoint was held back";
  EXPECT_EQ(std::filesystem::file_size(db_path() + "-wal"), 0u);
  // A stalled client that reads on learns why its stream ended.
  v1::SubtreeChunk chunk;
  while (stuck.front()->Read(&chunk)) {
  }
  const grpc::Status ended = stuck.front()->Finish();
  EXPECT_EQ(ended.error_code(), grpc::StatusCode::ABORTED);
  EXPECT_THAT(ended.error_message(), HasSubstr("--max_snapshot_age"));
  for (size_t i = 1; i < contexts.size(); ++i) contexts[i]->TryCancel();
  for (size_t i = 1; i < stuck.size(); ++i) stuck[i]->Finish();
}

TEST_F(FaultsTest, UnaryCallsPastTheLimitGetResourceExhausted) {
  MigrateAndSeed(100);
  service_options_.max_unary_calls = 1;
  service_options_.admin_token = "faults-test-admin-token";
  StartOrgData();
  auto get = [&] {
    grpc::ClientContext context;
    v1::GetEmployeeRequest request;
    request.set_id(1);
    v1::Employee employee;
    return stub_->GetEmployee(&context, request, &employee).error_code();
  };
  ASSERT_EQ(get(), grpc::StatusCode::OK);
  // An import the client keeps open takes the one slot.
  grpc::ClientContext import_context;
  import_context.AddMetadata("authorization", "Bearer faults-test-admin-token");
  v1::ImportResponse imported;
  auto import = stub_->Import(&import_context, &imported);
  ASSERT_TRUE(import->Write(v1::ImportRequest()));
  // Probe only once the import's handler holds the slot: a probe sent
  // before that could reach the server first and take the slot itself, and
  // the import would be the call refused.
  ASSERT_TRUE(testing::WaitFor([&] { return org_->unary_calls() == 1; }));
  EXPECT_EQ(get(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  import->WritesDone();
  EXPECT_TRUE(import->Finish().ok());
  // The slot is given back before the import's status is sent.
  EXPECT_EQ(get(), grpc::StatusCode::OK);
}

// A new file renamed over the served one (a backup put back by rename) is
// served in place of the old within a poll or two, by every connection,
// and writes reach it. Until then nothing reads it through the old file's
// log, which SQLite leaves at the path: it holds this test's first move,
// and the rename's own change would be hidden behind it.
TEST_F(FaultsTest, AFileRenamedOverTheDatabaseIsServedInPlaceOfTheOld) {
  constexpr char kToken[] = "faults-test-admin-token";
  service_options_.admin_token = kToken;
  MigrateAndSeed(500);
  StartOrgData();
  auto name_of_1 = [&](grpc::Status* status) {
    grpc::ClientContext context;
    v1::GetEmployeeRequest request;
    request.set_id(1);
    v1::Employee employee;
    *status = stub_->GetEmployee(&context, request, &employee);
    return employee.full_name();
  };
  auto apply = [&](const v1::Change& change) {
    grpc::ClientContext context;
    context.AddMetadata("authorization", std::string("Bearer ") + kToken);
    v1::ApplyChangesRequest request;
    *request.add_changes() = change;
    v1::ApplyChangesResponse response;
    return stub_->ApplyChanges(&context, request, &response);
  };
  // A write through the service: the writer and its checkpointer have the
  // old file open too, and the old file's log holds employee 1's page.
  v1::Change rename_1;
  {
    grpc::ClientContext context;
    v1::GetEmployeeRequest request;
    request.set_id(1);
    ASSERT_TRUE(
        stub_
            ->GetEmployee(&context, request, rename_1.mutable_upsert_employee())
            .ok());
    rename_1.mutable_upsert_employee()->set_full_name("Before");
  }
  ASSERT_TRUE(apply(rename_1).ok());
  grpc::Status status;
  ASSERT_EQ(name_of_1(&status), "Before");
  const std::string copy = db_path() + ".copy";
  ASSERT_OK(store::Backup(db_path(), copy));
  {
    SQLite::Database db(copy, SQLite::OPEN_READWRITE);
    db.exec("UPDATE employees SET full_name = 'Replaced' WHERE id = 1");
  }
  std::filesystem::rename(copy, db_path());

  EXPECT_TRUE(testing::WaitFor([&] {
    return name_of_1(&status) == "Replaced";
  })) << status.error_message();
  EXPECT_TRUE(testing::WaitFor(
      [&] { return Health() == HealthCheckResponse::SERVING; }));
  // Every connection reads the new file: many at once.
  std::vector<std::thread> readers;
  std::atomic<int> replaced{0};
  for (int t = 0; t < 8; ++t) {
    readers.emplace_back([&] {
      for (int i = 0; i < 20; ++i) {
        grpc::Status s;
        if (name_of_1(&s) == "Replaced" && s.ok()) ++replaced;
      }
    });
  }
  for (std::thread& t : readers) t.join();
  EXPECT_EQ(replaced, 160);
  // Writes reach the new file, which stays whole.
  v1::Change move_499;
  move_499.mutable_move_employee()->set_id(499);
  move_499.mutable_move_employee()->set_new_manager_id(1);
  EXPECT_TRUE(apply(move_499).ok());
  SQLite::Database db(db_path(), SQLite::OPEN_READONLY);
  EXPECT_EQ(db.execAndGet("PRAGMA integrity_check").getString(), "ok");
  EXPECT_EQ(
      db.execAndGet("SELECT full_name FROM employees WHERE id = 1").getString(),
      "Replaced");
  EXPECT_EQ(db.execAndGet("SELECT manager_id FROM employees WHERE id = 499")
                .getInt64(),
            1);
}

// A stream still reading the old file keeps the service from moving to
// the new one (its connection has the old file open); reads are refused
// meanwhile, saying so, and served from the new file once it ends.
TEST_F(FaultsTest, ARenamedFileWaitsForReadsOfTheOldOneToEnd) {
  MigrateAndSeed(20000);
  StartOrgData();
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::unique_ptr<grpc::ClientReader<v1::SubtreeChunk>>> stalled;
  OpenStalledStreams(1, &contexts, &stalled);
  if (HasFatalFailure()) return;
  const std::string copy = db_path() + ".copy";
  ASSERT_OK(store::Backup(db_path(), copy));
  {
    SQLite::Database db(copy, SQLite::OPEN_READWRITE);
    db.exec("UPDATE employees SET full_name = 'Replaced' WHERE id = 1");
  }
  std::filesystem::rename(copy, db_path());
  auto get_1 = [&](v1::Employee* employee) {
    grpc::ClientContext context;
    v1::GetEmployeeRequest request;
    request.set_id(1);
    return stub_->GetEmployee(&context, request, employee);
  };
  grpc::Status refused;
  EXPECT_TRUE(testing::WaitFor([&] {
    v1::Employee employee;
    refused = get_1(&employee);
    return refused.error_code() == grpc::StatusCode::UNAVAILABLE &&
           absl::StrContains(refused.error_message(),
                             "reads of the old file are still running");
  })) << refused.error_message();
  EXPECT_EQ(Health(), HealthCheckResponse::NOT_SERVING);

  contexts[0]->TryCancel();
  stalled[0]->Finish();
  v1::Employee employee;
  EXPECT_TRUE(testing::WaitFor([&] {
    return get_1(&employee).ok() && employee.full_name() == "Replaced";
  }));
  EXPECT_TRUE(testing::WaitFor(
      [&] { return Health() == HealthCheckResponse::SERVING; }));
}

}  // namespace
}  // namespace pulse::orgdata
