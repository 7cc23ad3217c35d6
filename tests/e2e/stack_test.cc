// Starts the real pulse-schema and pulse-orgdata binaries as the README
// does and talks to them only through reflection, as grpcurl would.

#include <signal.h>

#include <map>
#include <regex>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/test_util/migrations.h"
#include "tests/test_util/org_reference.h"
#include "tests/test_util/reflection_client.h"
#include "tests/test_util/status_matchers.h"
#include "tests/test_util/subprocess.h"
#include "tests/test_util/temp_dir.h"

namespace pulse {
namespace {

using ::testing::HasSubstr;

constexpr int kEmployees = 2000;

class StackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::vector<std::string> env = Env();
    ASSERT_EQ(testing::RunProcess({PULSE_SCHEMA_BIN, "upgrade", "head"},
                                  dir_.path(), env)
                  .exit_code,
              0);
    testing::RunResult seeded = testing::RunProcess(
        {PULSE_ORGDATA_BIN, "seed", absl::StrCat("--employees=", kEmployees)},
        dir_.path(), env);
    ASSERT_EQ(seeded.exit_code, 0) << seeded.err;

    auto schema = testing::Subprocess::Start(
        {PULSE_SCHEMA_BIN, "serve", "--listen=127.0.0.1:0"}, dir_.path(), env);
    ASSERT_OK(schema);
    schema_ = *std::move(schema);
    auto schema_port =
        testing::WaitForListeningPort(*schema_, absl::Seconds(20));
    ASSERT_TRUE(schema_port.has_value()) << schema_->Stderr();
    schema_address_ = absl::StrCat("127.0.0.1:", *schema_port);

    auto org = testing::Subprocess::Start(
        {PULSE_ORGDATA_BIN, "serve", "--listen=127.0.0.1:0",
         "--schema_addr=" + schema_address_, "--poll_interval=30s"},
        dir_.path(), env);
    ASSERT_OK(org);
    org_ = *std::move(org);
    auto org_port = testing::WaitForListeningPort(*org_, absl::Seconds(20));
    ASSERT_TRUE(org_port.has_value()) << org_->Stderr();
    client_ = std::make_unique<testing::ReflectionClient>(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", *org_port),
                            grpc::InsecureChannelCredentials()));
    schema_client_ =
        std::make_unique<testing::ReflectionClient>(grpc::CreateChannel(
            schema_address_, grpc::InsecureChannelCredentials()));
  }

  void TearDown() override {
    // Close client connections first: a server drains them on shutdown.
    client_.reset();
    schema_client_.reset();
    for (testing::Subprocess* p : {org_.get(), schema_.get()}) {
      if (p == nullptr) continue;
      p->Signal(SIGTERM);
      EXPECT_EQ(p->Wait(absl::Seconds(20)), 0) << p->Stderr();
    }
  }

  std::vector<std::string> Env() const {
    return {"PULSE_DB=" + db_path(),
            "PULSE_MIGRATIONS=" + testing::ProjectMigrations(),
            "PULSE_ADMIN_TOKEN=stack-test-secret-token"};
  }
  std::string db_path() const { return dir_.Join("pulse.db"); }

  std::string Health() {
    grpc::ClientContext context;
    auto r = client_->Call("grpc.health.v1.Health/Check",
                           R"({"service": "pulse.orgdata.v1.OrgDataService"})",
                           &context);
    return r.ok() ? (*r)[0] : r.status().ToString();
  }

  // (id, depth) of every node of a StreamSubtree call, with its status.
  absl::StatusOr<std::vector<std::pair<int64_t, int>>> Stream(
      const std::string& request) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(30));
    auto chunks = client_->Call("pulse.orgdata.v1.OrgDataService/StreamSubtree",
                                request, &context);
    if (!chunks.ok()) return chunks.status();
    static const std::regex kNode(
        R"re(\{"id":"(\d+)",(?:"manager_id":"\d+",)?"depth":(\d+))re");
    std::vector<std::pair<int64_t, int>> nodes;
    for (const std::string& chunk : *chunks) {
      for (std::sregex_iterator it(chunk.begin(), chunk.end(), kNode), end;
           it != end; ++it) {
        nodes.emplace_back(std::stoll((*it)[1]), std::stoi((*it)[2]));
      }
    }
    return nodes;
  }

  absl::Status Migrate(const std::string& method, const std::string& target,
                       absl::string_view more_fields = "") {
    grpc::ClientContext context;
    context.AddMetadata("authorization", "Bearer stack-test-secret-token");
    return schema_client_
        ->Call(
            "pulse.schema.v1.SchemaService/" + method,
            absl::StrCat(R"({"target": ")", target, R"(")", more_fields, "}"),
            &context)
        .status();
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::Subprocess> schema_;
  std::unique_ptr<testing::Subprocess> org_;
  std::string schema_address_;
  std::unique_ptr<testing::ReflectionClient> client_;
  std::unique_ptr<testing::ReflectionClient> schema_client_;
};

TEST_F(StackTest, ReflectionOnlyClientListsDescribesAndStreams) {
  auto services = client_->ListServices();
  ASSERT_OK(services);
  EXPECT_THAT(*services,
              ::testing::Contains("pulse.orgdata.v1.OrgDataService"));
  auto described = client_->Describe("pulse.orgdata.v1.OrgDataService");
  ASSERT_OK(described);
  EXPECT_THAT(*described, HasSubstr("rpc StreamSubtree"));
  ASSERT_TRUE(testing::WaitFor([&] {
    return Health().find("\"SERVING\"") != std::string::npos;
  })) << Health();

  const auto tree = testing::OrgTree::Load(db_path());
  auto whole = Stream(R"({"root_id": "1"})");
  ASSERT_OK(whole);
  EXPECT_EQ(*whole, tree.Dfs(1, 0));
  std::map<int64_t, int> seen;
  for (auto [id, depth] : *whole) EXPECT_TRUE(seen.emplace(id, depth).second);
  EXPECT_EQ(seen.size(), static_cast<size_t>(kEmployees));

  auto limited = Stream(R"({"root_id": "1", "max_depth": 2})");
  ASSERT_OK(limited);
  EXPECT_EQ(*limited, tree.Dfs(1, 2));
  auto bfs = Stream(R"({"root_id": "1", "order": "ORDER_BREADTH_FIRST"})");
  ASSERT_OK(bfs);
  EXPECT_EQ(*bfs, tree.Bfs(1, 0));
}

TEST_F(StackTest, DowngradeRefusesAndUpgradeRestoresWithoutRestart) {
  ASSERT_TRUE(testing::WaitFor(
      [&] { return Health().find("\"SERVING\"") != std::string::npos; }));
  // The data guard: base would drop the organisation; nothing changes.
  absl::Status guarded = Migrate("Downgrade", "base");
  EXPECT_EQ(guarded.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(guarded.message(), HasSubstr("table employees ("));
  EXPECT_THAT(guarded.message(), HasSubstr("Nothing was changed"));
  auto kept = Stream(R"({"root_id": "1"})");
  ASSERT_OK(kept);
  EXPECT_EQ(kept->size(), static_cast<size_t>(kEmployees));

  ASSERT_OK(Migrate("Downgrade", "base", R"(, "allow_data_loss": true)"));
  ASSERT_TRUE(testing::WaitFor([&] {
    return Health().find("NOT_SERVING") != std::string::npos;
  })) << Health();
  auto refused = Stream(R"({"root_id": "1"})");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.status().message(), HasSubstr("a1c3f0d2b7e4"));
  EXPECT_THAT(refused.status().message(), HasSubstr("at base"));

  ASSERT_OK(Migrate("Upgrade", "head"));
  ASSERT_TRUE(testing::WaitFor([&] {
    return Health().find("\"SERVING\"") != std::string::npos;
  })) << Health();
  testing::RunResult seeded = testing::RunProcess(
      {PULSE_ORGDATA_BIN, "seed", "--employees=50"}, dir_.path(), Env());
  ASSERT_EQ(seeded.exit_code, 0) << seeded.err;
  auto served = Stream(R"({"root_id": "1"})");
  ASSERT_OK(served);
  EXPECT_EQ(served->size(), 50u);
  EXPECT_EQ(org_->Wait(absl::ZeroDuration()),
            std::nullopt);  // Never restarted.
}

}  // namespace
}  // namespace pulse
