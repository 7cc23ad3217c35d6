#include <thread>

#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "libs/migrate/file_lock.h"
#include "libs/migrate/migrator.h"
#include "libs/migrate/script.h"
#include "pulse/schema/v1/schema.grpc.pb.h"
#include "services/schema/server.h"
#include "tests/test_util/migrations.h"
#include "tests/test_util/status_matchers.h"
#include "tests/test_util/temp_dir.h"

namespace pulse::schema {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using v1::SchemaService;

// How many revisions the project's migrations hold.
int ProjectRevisions() {
  auto scripts = migrate::LoadScripts(testing::ProjectMigrations());
  EXPECT_OK(scripts);
  return scripts.ok() ? static_cast<int>(scripts->size()) : -1;
}

constexpr char kToken[] = "s3cret-admin-token";

class SchemaServiceTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer(absl::Seconds(5)); }
  void TearDown() override { StopServer(); }

  void StartServer(absl::Duration lock_timeout) {
    Server::Options options;
    options.listen_address = "127.0.0.1:0";
    options.db_path = db_path();
    options.migrations_dir = testing::ProjectMigrations();
    options.admin_token = kToken;
    options.lock_timeout = lock_timeout;
    options.poll_interval = absl::Milliseconds(50);
    server_ = std::make_unique<Server>();
    ASSERT_OK(server_->BuildAndStart(options));
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                   grpc::InsecureChannelCredentials());
    stub_ = SchemaService::NewStub(channel_);
  }

  void StopServer() {
    if (server_ == nullptr) return;
    server_->Shutdown(absl::Seconds(1));
    server_->Wait();
    server_.reset();
  }

  std::string db_path() const { return dir_.Join("pulse.db"); }

  static void Authorize(grpc::ClientContext* context,
                        const std::string& token = kToken) {
    context->AddMetadata("authorization", "Bearer " + token);
    context->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  }

  grpc::Status Upgrade(const std::string& target, v1::MigrateResponse* out) {
    grpc::ClientContext context;
    Authorize(&context);
    v1::MigrateRequest request;
    request.set_target(target);
    return stub_->Upgrade(&context, request, out);
  }

  std::string Head() {
    auto m = migrate::Migrator::Create(testing::ProjectMigrations(), {});
    return (*m)->graph().heads()[0];
  }

  testing::TempDir dir_;
  std::unique_ptr<Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<SchemaService::Stub> stub_;
};

TEST_F(SchemaServiceTest, MutatingCallsWithoutValidTokenAreRefused) {
  v1::MigrateRequest request;
  request.set_target("head");
  v1::MigrateResponse response;
  {
    grpc::ClientContext context;
    EXPECT_EQ(stub_->Upgrade(&context, request, &response).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }
  {
    grpc::ClientContext context;
    context.AddMetadata("authorization", std::string("Basic ") + kToken);
    EXPECT_EQ(stub_->Downgrade(&context, request, &response).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }
  for (const std::string& wrong :
       {std::string("wrong"), std::string(kToken) + "x",
        std::string(kToken).substr(1), std::string("")}) {
    grpc::ClientContext context;
    Authorize(&context, wrong);
    grpc::Status status = stub_->Upgrade(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED)
        << wrong;
    EXPECT_THAT(status.error_message(), ::testing::Not(HasSubstr(kToken)));
  }
  {
    grpc::ClientContext context;
    v1::StampRequest stamp;
    stamp.set_target("head");
    EXPECT_EQ(stub_->Stamp(&context, stamp, &response).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }
  // Nothing was applied by the refused calls.
  grpc::ClientContext context;
  v1::RevisionState state;
  ASSERT_TRUE(stub_->GetRevision(&context, {}, &state).ok());
  EXPECT_THAT(state.current(), IsEmpty());
}

TEST_F(SchemaServiceTest, UpgradeWithTokenAppliesAndReports) {
  v1::MigrateResponse response;
  grpc::Status status = Upgrade("head", &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.steps_size(), ProjectRevisions());
  EXPECT_THAT(response.state().current(), ElementsAre(Head()));
  EXPECT_TRUE(response.state().at_head());

  grpc::ClientContext list_context;
  v1::ListRevisionsResponse list;
  ASSERT_TRUE(stub_->ListRevisions(&list_context, {}, &list).ok());
  ASSERT_EQ(list.revisions_size(), ProjectRevisions());
  EXPECT_EQ(list.revisions(0).id(), Head());
  EXPECT_TRUE(list.revisions(0).is_head());
  EXPECT_TRUE(list.revisions(1).applied());

  grpc::ClientContext history_context;
  v1::GetHistoryResponse history;
  ASSERT_TRUE(stub_->GetHistory(&history_context, {}, &history).ok());
  EXPECT_EQ(history.entries_size(), ProjectRevisions());

  grpc::ClientContext validate_context;
  v1::ValidateResponse validate;
  ASSERT_TRUE(stub_->Validate(&validate_context, {}, &validate).ok());
  EXPECT_TRUE(validate.ok());
}

TEST_F(SchemaServiceTest, BadTargetIsInvalidArgument) {
  v1::MigrateResponse response;
  EXPECT_EQ(Upgrade("no-such-revision", &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Upgrade("", &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Upgrade("-1", &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(SchemaServiceTest, OfflineSqlChangesNothing) {
  grpc::ClientContext context;
  Authorize(&context);
  v1::MigrateRequest request;
  request.set_target("head");
  request.set_sql_only(true);
  v1::MigrateResponse response;
  ASSERT_TRUE(stub_->Upgrade(&context, request, &response).ok());
  EXPECT_THAT(response.sql(), HasSubstr("CREATE TABLE employees"));
  EXPECT_THAT(response.state().current(), IsEmpty());
}

// Reads the watch until a message satisfies `done` or the deadline passes.
bool WatchUntil(grpc::ClientReader<v1::RevisionState>* reader,
                const std::function<bool(const v1::RevisionState&)>& done) {
  v1::RevisionState state;
  while (reader->Read(&state)) {
    if (done(state)) return true;
  }
  return false;
}

TEST_F(SchemaServiceTest, WatchRevisionSeesUpgradeByAnotherClient) {
  grpc::ClientContext watch_context;
  watch_context.set_deadline(
      absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
  auto reader = stub_->WatchRevision(&watch_context, {});
  v1::RevisionState first;
  ASSERT_TRUE(reader->Read(&first));
  EXPECT_THAT(first.current(), IsEmpty());

  v1::MigrateResponse response;
  ASSERT_TRUE(Upgrade("head", &response).ok());
  const std::string head = Head();
  EXPECT_TRUE(WatchUntil(reader.get(), [&](const v1::RevisionState& s) {
    return s.current_size() == 1 && s.current(0) == head && s.at_head() &&
           !s.migration_in_progress();
  }));
  watch_context.TryCancel();
}

TEST_F(SchemaServiceTest, WatchRevisionSeesChangeMadeOutsideTheServer) {
  grpc::ClientContext watch_context;
  watch_context.set_deadline(
      absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
  auto reader = stub_->WatchRevision(&watch_context, {});
  v1::RevisionState first;
  ASSERT_TRUE(reader->Read(&first));

  // The command line acts on the file directly, not through the server.
  migrate::MigratorOptions options;
  options.db_path = db_path();
  auto m = migrate::Migrator::Create(testing::ProjectMigrations(), options);
  ASSERT_OK(m);
  ASSERT_OK((*m)->Upgrade("+1"));
  const std::string base_rev = (*m)->graph().topological_order()[0];
  EXPECT_TRUE(WatchUntil(reader.get(), [&](const v1::RevisionState& s) {
    return s.current_size() == 1 && s.current(0) == base_rev;
  }));
  watch_context.TryCancel();
}

TEST_F(SchemaServiceTest, HealthIsServing) {
  auto health = grpc::health::v1::Health::NewStub(channel_);
  for (const char* service : {"", "pulse.schema.v1.SchemaService"}) {
    grpc::ClientContext context;
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(service);
    grpc::health::v1::HealthCheckResponse response;
    ASSERT_TRUE(health->Check(&context, request, &response).ok()) << service;
    EXPECT_EQ(response.status(),
              grpc::health::v1::HealthCheckResponse::SERVING);
  }
}

TEST_F(SchemaServiceTest, HeldLockGivesAborted) {
  StopServer();
  StartServer(absl::Milliseconds(100));
  auto lock =
      migrate::FileLock::Acquire(db_path() + ".migrate.lock", absl::Seconds(1));
  ASSERT_OK(lock);
  v1::MigrateResponse response;
  grpc::Status status = Upgrade("head", &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ABORTED);
  EXPECT_THAT(status.error_message(), HasSubstr("another migration"));
}

TEST_F(SchemaServiceTest, ShutdownEndsOpenWatches) {
  grpc::ClientContext watch_context;
  watch_context.set_deadline(
      absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
  auto reader = stub_->WatchRevision(&watch_context, {});
  v1::RevisionState first;
  ASSERT_TRUE(reader->Read(&first));
  const absl::Time start = absl::Now();
  StopServer();
  while (reader->Read(&first)) {
  }
  reader->Finish();
  // The watch ended because of the shutdown, not the 20 s deadline.
  EXPECT_LT(absl::Now() - start, absl::Seconds(15));
}

}  // namespace
}  // namespace pulse::schema
