#include <filesystem>
#include <thread>

#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "libs/migrate/migrator.h"
#include "libs/seed/seed.h"
#include "libs/store/store.h"
#include "pulse/orgdata/v1/orgdata.grpc.pb.h"
#include "pulse/schema/v1/schema.grpc.pb.h"
#include "services/orgdata/server.h"
#include "services/schema/server.h"
#include "tests/test_util/migrations.h"
#include "tests/test_util/org_reference.h"
#include "tests/test_util/project_db.h"
#include "tests/test_util/status_matchers.h"
#include "tests/test_util/temp_dir.h"

namespace pulse::orgdata {
namespace {

using ::grpc::health::v1::HealthCheckResponse;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using v1::OrgDataService;

// Runs that may drop data (the tests downgrade populated databases).
migrate::RunOptions AllowDataLoss() {
  migrate::RunOptions run;
  run.allow_data_loss = true;
  return run;
}

constexpr char kToken[] = "admin";
constexpr int kOrgSize = 3000;

std::chrono::system_clock::time_point In(absl::Duration d) {
  return absl::ToChronoTime(absl::Now() + d);
}

class OrgDataTest : public ::testing::Test {
 protected:
  void SetUp() override {
    migrator_ = Migrator(testing::ProjectMigrations());
    ASSERT_OK(migrator_->Upgrade("head"));
  }

  void TearDown() override {
    StopOrgData();
    StopSchema();
  }

  std::unique_ptr<migrate::Migrator> Migrator(const std::string& dir) {
    migrate::MigratorOptions options;
    options.db_path = db_path();
    auto m = migrate::Migrator::Create(dir, options);
    EXPECT_OK(m);
    return *std::move(m);
  }

  void Seed(int64_t n) {
    seed::SeedOptions options;
    options.employees = n;
    options.seed = 7;
    ASSERT_OK(seed::SeedOrganisation(db_path(), options));
  }

  void StartSchema() {
    schema::Server::Options options;
    options.listen_address = "127.0.0.1:0";
    options.db_path = db_path();
    options.migrations_dir = testing::ProjectMigrations();
    options.admin_token = kToken;
    options.poll_interval = absl::Milliseconds(50);
    schema_ = std::make_unique<schema::Server>();
    ASSERT_OK(schema_->BuildAndStart(options));
    schema_stub_ = pulse::schema::v1::SchemaService::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", schema_->port()),
                            grpc::InsecureChannelCredentials()));
  }

  void StopSchema() {
    if (schema_ == nullptr) return;
    schema_->Shutdown(absl::Seconds(1));
    schema_->Wait();
    schema_.reset();
  }

  void StartOrgData(const std::string& schema_address = "",
                    absl::Duration poll = absl::Seconds(30)) {
    Server::Options options;
    options.listen_address = "127.0.0.1:0";
    options.db_path = db_path();
    options.migrations_dir = testing::ProjectMigrations();
    options.schema_address = schema_address;
    options.poll_interval = poll;
    options.service.admin_token = kToken;
    org_ = std::make_unique<Server>();
    ASSERT_OK(org_->BuildAndStart(options));
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", org_->port()),
                                   grpc::InsecureChannelCredentials());
    stub_ = OrgDataService::NewStub(channel_);
    health_ = grpc::health::v1::Health::NewStub(channel_);
  }

  void StopOrgData() {
    if (org_ == nullptr) return;
    org_->Shutdown(absl::Seconds(1));
    org_->Wait();
    org_.reset();
  }

  std::string db_path() const { return dir_.Join("pulse.db"); }

  HealthCheckResponse::ServingStatus Health() {
    grpc::ClientContext context;
    context.set_deadline(In(absl::Seconds(5)));
    grpc::health::v1::HealthCheckRequest request;
    request.set_service("pulse.orgdata.v1.OrgDataService");
    HealthCheckResponse response;
    if (!health_->Check(&context, request, &response).ok()) {
      return HealthCheckResponse::UNKNOWN;
    }
    return response.status();
  }

  struct StreamResult {
    grpc::Status status;
    std::vector<v1::SubtreeChunk> chunks;
    std::vector<std::pair<int64_t, int>> nodes;  // id, depth
  };

  StreamResult Stream(const v1::StreamSubtreeRequest& request,
                      absl::Duration deadline = absl::Seconds(30)) {
    StreamResult result;
    grpc::ClientContext context;
    context.set_deadline(In(deadline));
    auto reader = stub_->StreamSubtree(&context, request);
    v1::SubtreeChunk chunk;
    while (reader->Read(&chunk)) {
      for (const auto& n : chunk.nodes())
        result.nodes.emplace_back(n.id(), n.depth());
      result.chunks.push_back(chunk);
    }
    result.status = reader->Finish();
    return result;
  }

  static v1::StreamSubtreeRequest Subtree(
      int64_t root, int max_depth = 0, v1::Order order = v1::ORDER_UNSPECIFIED,
      int64_t max_nodes = 0) {
    v1::StreamSubtreeRequest r;
    r.set_root_id(root);
    r.set_max_depth(max_depth);
    r.set_order(order);
    r.set_max_nodes(max_nodes);
    return r;
  }

  void Exec(const std::string& sql) {
    testing::OpenSqlite(db_path())->exec(sql);
  }

  testing::TempDir dir_;
  std::unique_ptr<migrate::Migrator> migrator_;
  std::unique_ptr<schema::Server> schema_;
  std::unique_ptr<pulse::schema::v1::SchemaService::Stub> schema_stub_;
  std::unique_ptr<Server> org_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<OrgDataService::Stub> stub_;
  std::unique_ptr<grpc::health::v1::Health::Stub> health_;
};

TEST_F(OrgDataTest, WholeOrganisationStreamsInBothOrdersLikeTheReference) {
  Seed(kOrgSize);
  StartOrgData();
  const auto tree = testing::OrgTree::Load(db_path());

  StreamResult dfs = Stream(Subtree(1));
  ASSERT_TRUE(dfs.status.ok()) << dfs.status.error_message();
  EXPECT_EQ(dfs.nodes, tree.Dfs(1, 0));
  EXPECT_EQ(dfs.nodes.size(), static_cast<size_t>(kOrgSize));
  // Parent before child, depth one more than the parent's.
  std::map<int64_t, int> depth_of;
  for (const auto& chunk : dfs.chunks) {
    for (const auto& n : chunk.nodes()) {
      if (n.id() != 1) {
        ASSERT_TRUE(depth_of.count(n.manager_id())) << n.id();
        EXPECT_EQ(n.depth(), depth_of[n.manager_id()] + 1);
      }
      EXPECT_TRUE(depth_of.emplace(n.id(), n.depth()).second)
          << "twice: " << n.id();
      EXPECT_FALSE(n.email().empty());
    }
  }
  // Many nodes per message: a small first chunk, then full ones.
  ASSERT_GT(dfs.chunks.size(), 2u);
  EXPECT_EQ(dfs.chunks[0].nodes_size(), 64);
  EXPECT_EQ(dfs.chunks[1].nodes_size(), 1024);
  EXPECT_THAT(dfs.chunks[0].schema_revisions(),
              ElementsAre(migrator_->graph().heads()[0]));

  StreamResult bfs = Stream(Subtree(1, 0, v1::ORDER_BREADTH_FIRST));
  ASSERT_TRUE(bfs.status.ok());
  EXPECT_EQ(bfs.nodes, tree.Bfs(1, 0));

  // A mid-level subtree.
  const int64_t vp = tree.children.at(1)[0];
  const int64_t director = tree.children.at(vp)[0];
  EXPECT_EQ(Stream(Subtree(director)).nodes, tree.Dfs(director, 0));
  EXPECT_EQ(Stream(Subtree(director, 0, v1::ORDER_BREADTH_FIRST)).nodes,
            tree.Bfs(director, 0));
}

TEST_F(OrgDataTest, StreamedNodesCarryEveryFieldOfTheirRow) {
  Seed(300);
  Exec("UPDATE employees SET notes = 'note ' || id WHERE id % 7 = 0");
  Exec("UPDATE employees SET department_id = NULL WHERE id % 11 = 0");
  StartOrgData();
  StreamResult streamed = Stream(Subtree(1));
  ASSERT_TRUE(streamed.status.ok()) << streamed.status.error_message();
  auto db = testing::OpenSqlite(db_path());
  SQLite::Statement row(*db,
                        "SELECT manager_id, full_name, title, email, "
                        "department_id, hire_date, notes FROM employees "
                        "WHERE id = ?");
  int checked = 0;
  for (const auto& chunk : streamed.chunks) {
    for (const auto& n : chunk.nodes()) {
      row.reset();
      row.bind(1, static_cast<int64_t>(n.id()));
      ASSERT_TRUE(row.executeStep()) << n.id();
      EXPECT_EQ(n.has_manager_id(), !row.isColumnNull(0)) << n.id();
      if (n.has_manager_id()) {
        EXPECT_EQ(n.manager_id(), row.getColumn(0).getInt64());
      }
      EXPECT_EQ(n.full_name(), row.getColumn(1).getString());
      EXPECT_EQ(n.title(), row.getColumn(2).getString());
      EXPECT_EQ(n.email(), row.getColumn(3).getString());
      EXPECT_EQ(n.has_department_id(), !row.isColumnNull(4)) << n.id();
      if (n.has_department_id()) {
        EXPECT_EQ(n.department_id(), row.getColumn(4).getInt64());
      }
      EXPECT_EQ(n.hire_date(), row.getColumn(5).getString());
      EXPECT_EQ(n.has_notes(), !row.isColumnNull(6)) << n.id();
      if (n.has_notes()) {
        EXPECT_EQ(n.notes(), row.getColumn(6).getString());
      }
      ++checked;
    }
  }
  EXPECT_EQ(checked, 300);
}

TEST_F(OrgDataTest, MaxDepthAndNodeBudgetAreHonoured) {
  Seed(kOrgSize);
  StartOrgData();
  const auto tree = testing::OrgTree::Load(db_path());
  EXPECT_EQ(Stream(Subtree(1, 2)).nodes, tree.Dfs(1, 2));
  EXPECT_EQ(Stream(Subtree(1, 1, v1::ORDER_BREADTH_FIRST)).nodes,
            tree.Bfs(1, 1));

  StreamResult budget = Stream(Subtree(1, 0, v1::ORDER_DEPTH_FIRST, 100));
  ASSERT_TRUE(budget.status.ok());
  auto expected = tree.Dfs(1, 0);
  expected.resize(100);
  EXPECT_EQ(budget.nodes, expected);
  EXPECT_TRUE(budget.chunks.back().truncated());

  StreamResult whole = Stream(Subtree(1, 0, v1::ORDER_DEPTH_FIRST, kOrgSize));
  EXPECT_EQ(whole.nodes.size(), static_cast<size_t>(kOrgSize));
  EXPECT_FALSE(whole.chunks.back().truncated());
}

TEST_F(OrgDataTest, BadRequestsGetTheRightCodes) {
  Seed(100);
  StartOrgData();
  EXPECT_EQ(Stream(Subtree(999999)).status.error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Stream(Subtree(1, -1)).status.error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(
      Stream(Subtree(1, 0, v1::ORDER_UNSPECIFIED, -5)).status.error_code(),
      grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Stream(Subtree(0)).status.error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(
      Stream(Subtree(1, 0, static_cast<v1::Order>(9))).status.error_code(),
      grpc::StatusCode::INVALID_ARGUMENT);
  grpc::ClientContext context;
  v1::GetEmployeeRequest request;
  request.set_id(424242);
  v1::Employee e;
  EXPECT_EQ(stub_->GetEmployee(&context, request, &e).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(OrgDataTest, EmployeeChainAndSummaryMatchTheData) {
  Seed(kOrgSize);
  StartOrgData();
  const auto tree = testing::OrgTree::Load(db_path());
  // The deepest employee of a depth-first walk.
  int64_t deep = 1;
  int deepest = 0;
  for (auto [id, depth] : tree.Dfs(1, 0)) {
    if (depth > deepest) deepest = depth, deep = id;
  }
  grpc::ClientContext context;
  v1::ListChainOfCommandRequest request;
  request.set_id(deep);
  v1::ListChainOfCommandResponse chain;
  ASSERT_TRUE(stub_->ListChainOfCommand(&context, request, &chain).ok());
  EXPECT_EQ(chain.employee().id(), deep);
  ASSERT_EQ(chain.managers_size(), deepest);
  int64_t expect = tree.manager.at(deep);
  for (int i = 0; i < chain.managers_size(); ++i) {
    EXPECT_EQ(chain.managers(i).id(), expect);
    EXPECT_EQ(chain.managers(i).depth(), -(i + 1));
    expect = tree.manager.at(expect);
  }
  EXPECT_EQ(chain.managers(deepest - 1).id(), 1);

  grpc::ClientContext summary_context;
  v1::GetSubtreeSummaryRequest summary_request;
  summary_request.set_root_id(1);
  v1::SubtreeSummary summary;
  ASSERT_TRUE(
      stub_->GetSubtreeSummary(&summary_context, summary_request, &summary)
          .ok());
  EXPECT_EQ(summary.headcount(), kOrgSize);
  EXPECT_EQ(summary.depth(), deepest);
  size_t widest = 0;
  int64_t widest_manager = 0;
  for (const auto& [m, kids] : tree.children) {
    if (m != 0 && kids.size() > widest)
      widest = kids.size(), widest_manager = m;
  }
  EXPECT_EQ(summary.widest_span(), static_cast<int64_t>(widest));
  EXPECT_EQ(tree.children.at(summary.widest_span_manager_id()).size(), widest);
  (void)widest_manager;
}

TEST_F(OrgDataTest, NotesAreServedWhenTheColumnExists) {
  Seed(10);
  Exec("UPDATE employees SET notes = 'prefers email' WHERE id = 1");
  StartOrgData();
  grpc::ClientContext context;
  v1::GetEmployeeRequest request;
  request.set_id(1);
  v1::Employee e;
  ASSERT_TRUE(stub_->GetEmployee(&context, request, &e).ok());
  EXPECT_EQ(e.notes(), "prefers email");
  EXPECT_FALSE(e.has_manager_id());

  // Back to the first revision: no notes column.
  ASSERT_OK(migrator_->Downgrade(migrator_->graph().topological_order()[0],
                                 AllowDataLoss()));
  grpc::ClientContext again;
  ASSERT_TRUE(stub_->GetEmployee(&again, request, &e).ok());
  EXPECT_FALSE(e.has_notes());
}

TEST_F(OrgDataTest, GateRefusesBaseThenServesAfterUpgradeWithoutRestart) {
  Seed(200);
  StartSchema();
  ASSERT_OK(migrator_->Downgrade("base", AllowDataLoss()));
  StartOrgData(absl::StrCat("127.0.0.1:", schema_->port()));

  StreamResult refused = Stream(Subtree(1));
  EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(refused.status.error_message(), HasSubstr("at base"));
  EXPECT_THAT(refused.status.error_message(), HasSubstr(kRequiredRevision));
  EXPECT_TRUE(testing::WaitFor(
      [&] { return Health() == HealthCheckResponse::NOT_SERVING; }));

  grpc::ClientContext context;
  context.AddMetadata("authorization", std::string("Bearer ") + kToken);
  pulse::schema::v1::MigrateRequest up;
  up.set_target("head");
  pulse::schema::v1::MigrateResponse response;
  ASSERT_TRUE(schema_stub_->Upgrade(&context, up, &response).ok());
  // The watch tells the org-data service at once (its own poll is 30 s).
  EXPECT_TRUE(testing::WaitFor(
      [&] { return Health() == HealthCheckResponse::SERVING; }));
  Seed(200);  // Downgrading to base dropped the tables and their rows.
  StreamResult served = Stream(Subtree(1));
  EXPECT_TRUE(served.status.ok()) << served.status.error_message();
  EXPECT_EQ(served.nodes.size(), 200u);
}

TEST_F(OrgDataTest, UnknownRevisionRefusedAndHealthFollowsTheDatabase) {
  Seed(200);
  StartSchema();
  // Hand edits of pulse_version run no migration: the service's own poll of
  // the database catches what the schema service's watch may not.
  StartOrgData(absl::StrCat("127.0.0.1:", schema_->port()),
               absl::Milliseconds(100));
  EXPECT_TRUE(testing::WaitFor(
      [&] { return Health() == HealthCheckResponse::SERVING; }));
  EXPECT_EQ(Stream(Subtree(1)).nodes.size(), 200u);

  // A database at a revision nobody knows.
  Exec("UPDATE pulse_version SET revision = 'f00dfeed'");
  StreamResult unknown = Stream(Subtree(1));
  EXPECT_EQ(unknown.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(unknown.status.error_message(), HasSubstr("f00dfeed"));
  EXPECT_TRUE(testing::WaitFor(
      [&] { return Health() == HealthCheckResponse::NOT_SERVING; }));
  Exec(absl::StrCat("UPDATE pulse_version SET revision = '",
                    migrator_->graph().heads()[0], "'"));
  EXPECT_TRUE(testing::WaitFor(
      [&] { return Health() == HealthCheckResponse::SERVING; }));
  EXPECT_EQ(Stream(Subtree(1)).nodes.size(), 200u);
}

TEST_F(OrgDataTest, BreakingRevisionIsRefused) {
  const std::string scripts = dir_.Join("scripts");
  std::filesystem::create_directory(scripts);
  for (const auto& entry :
       std::filesystem::directory_iterator(testing::ProjectMigrations())) {
    std::filesystem::copy(entry.path(), scripts);
  }
  const std::string head = migrator_->graph().heads()[0];
  testing::AddScript(scripts, "additive1", head,
                     "CREATE TABLE offices (id INTEGER PRIMARY KEY);",
                     "DROP TABLE offices;");
  testing::AddScript(scripts, "breaking1", "additive1",
                     "ALTER TABLE employees RENAME COLUMN title TO job_title;",
                     "ALTER TABLE employees RENAME COLUMN job_title TO title;",
                     /*breaking=*/true);
  Seed(50);
  auto m = Migrator(scripts);
  ASSERT_OK(m->Upgrade("additive1"));
  // The org-data service's own scripts lack additive1: the database's
  // graph table says where it belongs.
  StartOrgData();
  EXPECT_TRUE(Stream(Subtree(1)).status.ok());
  ASSERT_OK(m->Upgrade("breaking1"));
  StreamResult refused = Stream(Subtree(1));
  EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(refused.status.error_message(),
              HasSubstr("breaking revision breaking1"));
}

TEST_F(OrgDataTest, MigrationDuringALongStreamDoesNotCorruptIt) {
  Seed(20000);
  StartOrgData();
  const auto tree = testing::OrgTree::Load(db_path());
  grpc::ClientContext context;
  context.set_deadline(In(absl::Seconds(60)));
  auto reader = stub_->StreamSubtree(&context, Subtree(1));
  v1::SubtreeChunk chunk;
  std::vector<std::pair<int64_t, int>> nodes;
  ASSERT_TRUE(reader->Read(&chunk));
  for (const auto& n : chunk.nodes()) nodes.emplace_back(n.id(), n.depth());
  // The server is now blocked on flow control inside its read transaction.
  // Migrate and change data under it.
  ASSERT_OK(migrator_->Downgrade("-1", AllowDataLoss()));
  Exec(
      "DELETE FROM employees WHERE id IN (SELECT id FROM employees e WHERE "
      "NOT EXISTS (SELECT 1 FROM employees c WHERE c.manager_id = e.id) "
      "LIMIT 500)");
  while (reader->Read(&chunk)) {
    for (const auto& n : chunk.nodes()) nodes.emplace_back(n.id(), n.depth());
  }
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_EQ(nodes, tree.Dfs(1, 0));
  // A new stream sees the new snapshot.
  EXPECT_EQ(Stream(Subtree(1)).nodes.size(), 20000u - 500u);
}

TEST_F(OrgDataTest, CancelAndDeadlineStopTheRead) {
  Seed(50000);
  StartOrgData();
  {
    grpc::ClientContext context;
    auto reader = stub_->StreamSubtree(&context, Subtree(1));
    v1::SubtreeChunk chunk;
    ASSERT_TRUE(reader->Read(&chunk));
    context.TryCancel();
    while (reader->Read(&chunk)) {
    }
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  StreamResult late = Stream(Subtree(1), absl::Milliseconds(3));
  EXPECT_EQ(late.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  ASSERT_TRUE(testing::WaitFor([&] { return org_->active_streams() == 0; }));
  // Neither stream read the whole organisation.
  EXPECT_LT(org_->nodes_read(), 2 * 50000 - 10000);
}

TEST_F(OrgDataTest, ManagerCycleEndsTheStreamWithAnError) {
  // Since revision 7d2e4b9c1f60 a cycle is refused at write time; a
  // database written before it may still hold one.
  ASSERT_OK(migrator_->Downgrade("3c9e1f7a2b50", AllowDataLoss()));
  Exec(
      "INSERT INTO employees (id, manager_id, full_name, email, hire_date) "
      "VALUES (1, 3, 'A', 'a@x', '2020-01-01'), (2, 1, 'B', 'b@x', "
      "'2020-01-01'), (3, 2, 'C', 'c@x', '2020-01-01'), (4, 2, 'D', 'd@x', "
      "'2020-01-01'), (5, NULL, 'E', 'e@x', '2020-01-01')");
  StartOrgData();
  for (v1::Order order : {v1::ORDER_DEPTH_FIRST, v1::ORDER_BREADTH_FIRST}) {
    StreamResult looped = Stream(Subtree(1, 0, order), absl::Seconds(10));
    EXPECT_EQ(looped.status.error_code(), grpc::StatusCode::DATA_LOSS);
    EXPECT_THAT(looped.status.error_message(), HasSubstr("cycle"));
  }
  grpc::ClientContext context;
  v1::ListChainOfCommandRequest request;
  request.set_id(4);
  v1::ListChainOfCommandResponse chain;
  EXPECT_EQ(stub_->ListChainOfCommand(&context, request, &chain).error_code(),
            grpc::StatusCode::DATA_LOSS);
  grpc::ClientContext summary_context;
  v1::GetSubtreeSummaryRequest summary_request;
  summary_request.set_root_id(2);
  v1::SubtreeSummary summary;
  EXPECT_EQ(
      stub_->GetSubtreeSummary(&summary_context, summary_request, &summary)
          .error_code(),
      grpc::StatusCode::DATA_LOSS);
  // Outside the cycle all is well.
  EXPECT_TRUE(Stream(Subtree(5)).status.ok());
}

TEST_F(OrgDataTest, ServesWhileTheSchemaServiceIsDown) {
  Seed(100);
  StartSchema();
  const std::string address = absl::StrCat("127.0.0.1:", schema_->port());
  StopSchema();  // Nothing listens there now.
  StartOrgData(address);
  EXPECT_TRUE(testing::WaitFor(
      [&] { return Health() == HealthCheckResponse::SERVING; }));
  EXPECT_EQ(Stream(Subtree(1)).nodes.size(), 100u);
}

v1::Change Upsert(int64_t id, int64_t manager, const std::string& email) {
  v1::Change c;
  v1::Employee* e = c.mutable_upsert_employee();
  e->set_id(id);
  if (manager > 0) e->set_manager_id(manager);
  e->set_full_name(absl::StrCat("New ", id));
  e->set_email(email);
  e->set_hire_date("2024-01-02");
  return c;
}

v1::Change Move(int64_t id, int64_t manager) {
  v1::Change c;
  c.mutable_move_employee()->set_id(id);
  c.mutable_move_employee()->set_new_manager_id(manager);
  return c;
}

TEST_F(OrgDataTest, WritesNeedTheAdminToken) {
  Seed(50);
  StartOrgData();
  v1::ApplyChangesRequest request;
  *request.add_changes() = Upsert(900, 1, "n@x");
  for (const char* header : {"", "Bearer wrong-token"}) {
    grpc::ClientContext context;
    if (*header) {
      context.AddMetadata("authorization", header);
    }
    v1::ApplyChangesResponse response;
    EXPECT_EQ(stub_->ApplyChanges(&context, request, &response).error_code(),
              *header ? grpc::StatusCode::PERMISSION_DENIED
                      : grpc::StatusCode::UNAUTHENTICATED);
    grpc::ClientContext import_context;
    if (*header) {
      import_context.AddMetadata("authorization", header);
    }
    v1::ImportResponse imported;
    auto writer = stub_->Import(&import_context, &imported);
    writer->WritesDone();
    EXPECT_EQ(writer->Finish().error_code(),
              *header ? grpc::StatusCode::PERMISSION_DENIED
                      : grpc::StatusCode::UNAUTHENTICATED);
  }
  EXPECT_EQ(testing::OrgTree::Load(db_path()).manager.count(900), 0u);
}

TEST_F(OrgDataTest, ApplyChangesIsAtomicAndAStreamSeesNoneOfALaterWrite) {
  Seed(kOrgSize);
  StartOrgData();
  auto apply = [&](const v1::ApplyChangesRequest& request,
                   v1::ApplyChangesResponse* response) {
    grpc::ClientContext context;
    context.AddMetadata("authorization", absl::StrCat("Bearer ", kToken));
    return stub_->ApplyChanges(&context, request, response);
  };
  // A stream that started before the write: its first chunk is read.
  grpc::ClientContext stream_context;
  auto reader = stub_->StreamSubtree(&stream_context, Subtree(1));
  v1::SubtreeChunk chunk;
  ASSERT_TRUE(reader->Read(&chunk));
  int64_t before_write = chunk.nodes_size();

  const auto tree = testing::OrgTree::Load(db_path());
  const int64_t vp = tree.children.at(1).front();
  const int64_t deep = tree.Dfs(vp, 0).back().first;
  v1::ApplyChangesRequest request;
  *request.add_changes() = Upsert(kOrgSize + 1, 1, "new1@x");
  *request.add_changes() = Upsert(kOrgSize + 2, kOrgSize + 1, "new2@x");
  *request.add_changes() = Move(vp, kOrgSize + 2);
  v1::ApplyChangesResponse response;
  grpc::Status status = apply(request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.summary().employees_added(), 2);
  EXPECT_EQ(response.summary().employees_moved(), 1);

  while (reader->Read(&chunk)) before_write += chunk.nodes_size();
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_EQ(before_write, kOrgSize);
  // A stream that starts after it sees all of it.
  StreamResult after = Stream(Subtree(1));
  ASSERT_TRUE(after.status.ok());
  EXPECT_EQ(after.nodes, testing::OrgTree::Load(db_path()).Dfs(1, 0));
  EXPECT_EQ(after.nodes.size(), static_cast<size_t>(kOrgSize + 2));

  // A cycle, a duplicate email, an unknown manager, a bad date: the right
  // code, the change named, and nothing of the batch applied.
  struct Case {
    v1::Change change;
    grpc::StatusCode code;
    const char* text;
  };
  v1::Change bad_date = Upsert(kOrgSize + 9, 1, "new9@x");
  bad_date.mutable_upsert_employee()->set_hire_date("2024-02-31");
  const std::vector<Case> cases = {
      {Move(kOrgSize + 1, deep), grpc::StatusCode::FAILED_PRECONDITION,
       "changes[1].move_employee: a manager cycle"},
      {Upsert(kOrgSize + 9, 1, "new1@x"), grpc::StatusCode::ALREADY_EXISTS,
       "changes[1].upsert_employee.email"},
      {Upsert(kOrgSize + 9, 7777777, "new9@x"), grpc::StatusCode::NOT_FOUND,
       "changes[1].upsert_employee.manager_id: no employee 7777777"},
      {bad_date, grpc::StatusCode::INVALID_ARGUMENT,
       "changes[1].upsert_employee.hire_date"},
      {v1::Change(), grpc::StatusCode::INVALID_ARGUMENT,
       "changes[1]: names no change"}};
  for (const Case& c : cases) {
    v1::ApplyChangesRequest bad;
    *bad.add_changes() = Upsert(kOrgSize + 8, 1, "new8@x");
    *bad.add_changes() = c.change;
    grpc::Status s = apply(bad, &response);
    EXPECT_EQ(s.error_code(), c.code) << s.error_message();
    EXPECT_THAT(s.error_message(), HasSubstr(c.text));
  }
  EXPECT_EQ(testing::OrgTree::Load(db_path()).manager.count(kOrgSize + 8), 0u);

  // The revision gate refuses writes as it refuses reads.
  ASSERT_OK(migrator_->Downgrade("base", AllowDataLoss()));
  v1::ApplyChangesRequest after_downgrade;
  *after_downgrade.add_changes() = Upsert(kOrgSize + 8, 0, "new8@x");
  EXPECT_EQ(apply(after_downgrade, &response).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_F(OrgDataTest, ImportOverGrpcIsAllOrNothingAndListsBadRows) {
  Seed(100);
  StartOrgData();
  auto import = [&](const std::vector<v1::ImportRow>& rows, bool dry_run,
                    v1::ImportResponse* response) {
    grpc::ClientContext context;
    context.AddMetadata("authorization", absl::StrCat("Bearer ", kToken));
    auto writer = stub_->Import(&context, response);
    v1::ImportRequest piece;
    piece.set_source("upload.csv");
    piece.set_dry_run(dry_run);
    for (const v1::ImportRow& row : rows) {
      *piece.add_rows() = row;
      if (piece.rows_size() == 2) {
        EXPECT_TRUE(writer->Write(piece));
        piece.Clear();
      }
    }
    if (piece.rows_size() > 0) {
      EXPECT_TRUE(writer->Write(piece));
    }
    writer->WritesDone();
    return writer->Finish();
  };
  auto row = [](int64_t id, int64_t manager, const char* date) {
    v1::ImportRow r;
    r.set_id(id);
    if (manager > 0) r.set_manager_id(manager);
    r.set_full_name(absl::StrCat("Imported ", id));
    r.set_email(absl::StrCat("imported", id, "@x"));
    r.set_department("Imports");
    r.set_hire_date(date);
    return r;
  };
  // Reports before their managers; row 3 has a bad date.
  v1::ImportResponse response;
  grpc::Status status =
      import({row(503, 502, "2020-01-01"), row(502, 501, "2020-01-01"),
              row(504, 501, "2020-99-01"), row(501, 1, "2020-01-01")},
             false, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(),
              HasSubstr("upload.csv:3: hire_date: '2020-99-01' is not a date"));
  EXPECT_EQ(testing::OrgTree::Load(db_path()).manager.count(501), 0u);

  status = import({row(503, 502, "2020-01-01"), row(502, 501, "2020-01-01"),
                   row(501, 1, "2020-01-01")},
                  true, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(response.dry_run());
  EXPECT_EQ(response.summary().employees_added(), 3);
  EXPECT_EQ(testing::OrgTree::Load(db_path()).manager.count(501), 0u);

  status = import({row(503, 502, "2020-01-01"), row(502, 501, "2020-01-01"),
                   row(501, 1, "2020-01-01")},
                  false, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.summary().employees_added(), 3);
  EXPECT_EQ(response.summary().departments_added(), 1);
  StreamResult streamed = Stream(Subtree(501));
  ASSERT_TRUE(streamed.status.ok()) << streamed.status.error_message();
  EXPECT_EQ(streamed.nodes, (std::vector<std::pair<int64_t, int>>{
                                {501, 0}, {502, 1}, {503, 2}}));
}

// The writer leaves checkpoints to a thread of its own: written pages reach
// the database file (not only the write-ahead log) without any other
// writer's help.
TEST_F(OrgDataTest, WritesReachTheDatabaseFileThroughTheCheckpointer) {
  Seed(100);
  StartOrgData();
  auto file_size = [&] { return std::filesystem::file_size(db_path()); };
  const auto before = file_size();
  v1::ApplyChangesRequest request;
  for (int i = 0; i < 3000; ++i) {
    *request.add_changes() = Upsert(1000 + i, 1, absl::StrCat("bulk", i, "@x"));
  }
  grpc::ClientContext context;
  context.AddMetadata("authorization", absl::StrCat("Bearer ", kToken));
  v1::ApplyChangesResponse response;
  ASSERT_TRUE(stub_->ApplyChanges(&context, request, &response).ok());
  EXPECT_TRUE(testing::WaitFor([&] { return file_size() > before; }))
      << "the database file stayed at " << before << " bytes";
}

}  // namespace
}  // namespace pulse::orgdata
