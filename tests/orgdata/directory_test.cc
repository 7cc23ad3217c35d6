// Direct reports and departments (issue 19), compared with reference
// queries on a seeded organisation, before and after writes.

#include <map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "libs/migrate/migrator.h"
#include "libs/seed/seed.h"
#include "libs/store/store.h"
#include "pulse/orgdata/v1/orgdata.grpc.pb.h"
#include "services/orgdata/server.h"
#include "tests/test_util/migrations.h"
#include "tests/test_util/status_matchers.h"
#include "tests/test_util/temp_dir.h"

namespace pulse::orgdata {
namespace {

using ::testing::HasSubstr;
using v1::OrgDataService;

constexpr char kToken[] = "directory-test-admin-token";

class DirectoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    migrate::MigratorOptions options;
    options.db_path = db_path();
    auto m = migrate::Migrator::Create(testing::ProjectMigrations(), options);
    ASSERT_OK(m);
    ASSERT_OK((*m)->Upgrade("head"));
    seed::SeedOptions seed;
    seed.employees = 600;
    ASSERT_OK(seed::SeedOrganisation(db_path(), seed));
    Server::Options server;
    server.listen_address = "127.0.0.1:0";
    server.db_path = db_path();
    server.service.admin_token = kToken;
    server_ = std::make_unique<Server>();
    ASSERT_OK(server_->BuildAndStart(server));
    stub_ = OrgDataService::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                            grpc::InsecureChannelCredentials()));
    auto db = store::Open(db_path(), store::OpenOptions());
    ASSERT_OK(db);
    db_ = *std::move(db);
  }

  void TearDown() override {
    server_->Shutdown(absl::Seconds(1));
    server_->Wait();
  }

  std::string db_path() const { return dir_.Join("pulse.db"); }

  // "id:direct reports" of each report of `manager`, by the reference
  // query.
  std::vector<std::string> ReferenceReports(int64_t manager) {
    std::vector<std::string> out;
    auto q = db_->Prepare(
        "SELECT id, (SELECT count(*) FROM employees c WHERE c.manager_id = "
        "e.id) FROM employees e WHERE manager_id = ? ORDER BY full_name, id");
    EXPECT_OK(q);
    q->Bind(1, manager);
    EXPECT_OK(q->ForEachRow([&] {
      out.push_back(absl::StrCat(q->Int64(0), ":", q->Int64(1)));
      return absl::OkStatus();
    }));
    return out;
  }

  // The same through ListDirectReports, `page_size` at a time.
  std::vector<std::string> PagedReports(int64_t manager, int page_size,
                                        int* pages) {
    std::vector<std::string> out;
    std::string token;
    *pages = 0;
    do {
      grpc::ClientContext context;
      v1::ListDirectReportsRequest request;
      request.set_id(manager);
      request.set_page_size(page_size);
      request.set_page_token(token);
      v1::ListDirectReportsResponse response;
      grpc::Status status =
          stub_->ListDirectReports(&context, request, &response);
      EXPECT_TRUE(status.ok()) << status.error_message();
      if (!status.ok()) break;
      ++*pages;
      EXPECT_LE(response.reports_size(), page_size == 0 ? 50 : page_size);
      for (const v1::Employee& e : response.reports()) {
        EXPECT_EQ(e.manager_id(), manager);
        EXPECT_EQ(e.depth(), 1);
        EXPECT_TRUE(e.has_direct_reports());
        EXPECT_FALSE(e.full_name().empty());
        out.push_back(absl::StrCat(e.id(), ":", e.direct_reports()));
      }
      token = response.next_page_token();
    } while (!token.empty() && *pages < 1000);
    return out;
  }

  // The manager with the most reports.
  int64_t BusiestManager() {
    auto id = db_->SelectInt(
        "SELECT manager_id FROM employees WHERE manager_id IS NOT NULL GROUP "
        "BY manager_id ORDER BY count(*) DESC, manager_id LIMIT 1");
    EXPECT_OK(id);
    return id.ok() ? *id : 0;
  }

  grpc::Status Apply(const v1::ApplyChangesRequest& request) {
    grpc::ClientContext context;
    context.AddMetadata("authorization", absl::StrCat("Bearer ", kToken));
    v1::ApplyChangesResponse response;
    return stub_->ApplyChanges(&context, request, &response);
  }

  v1::ListDepartmentsResponse Departments() {
    grpc::ClientContext context;
    v1::ListDepartmentsResponse response;
    grpc::Status status = stub_->ListDepartments(
        &context, v1::ListDepartmentsRequest(), &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  // Checks every department against reference queries, and the order.
  void ExpectDepartmentsMatchTheTables() {
    const v1::ListDepartmentsResponse list = Departments();
    auto count = db_->SelectInt("SELECT count(*) FROM departments");
    ASSERT_OK(count);
    ASSERT_EQ(list.departments_size(), *count);
    std::map<int64_t, int32_t> depth_of;
    for (const v1::Department& d : list.departments()) {
      SCOPED_TRACE(absl::StrCat("department ", d.id()));
      // Pre-order: the parent came before, one level up.
      if (d.has_parent_id()) {
        ASSERT_EQ(depth_of.count(d.parent_id()), 1u);
        EXPECT_EQ(d.depth(), depth_of[d.parent_id()] + 1);
      } else {
        EXPECT_EQ(d.depth(), 0);
      }
      depth_of[d.id()] = d.depth();
      auto direct = db_->SelectInt(absl::StrCat(
          "SELECT count(*) FROM employees WHERE department_id = ", d.id()));
      auto total = db_->SelectInt(absl::StrCat(
          "WITH RECURSIVE below(id) AS (SELECT ", d.id(),
          " UNION SELECT c.id FROM departments c JOIN below ON c.parent_id = "
          "below.id) SELECT count(*) FROM employees WHERE department_id IN "
          "(SELECT id FROM below)"));
      auto name = db_->Prepare(
          "SELECT d.name, coalesce(h.full_name, '') FROM departments d LEFT "
          "JOIN employees h ON h.id = d.head_employee_id WHERE d.id = ?");
      ASSERT_OK(direct);
      ASSERT_OK(total);
      ASSERT_OK(name);
      name->Bind(1, d.id());
      ASSERT_OK(name->Step());
      EXPECT_EQ(d.direct_headcount(), *direct);
      EXPECT_EQ(d.total_headcount(), *total);
      EXPECT_EQ(d.name(), name->Text(0));
      EXPECT_EQ(d.head_employee_name(), name->Text(1));
      name->Reset();

      grpc::ClientContext context;
      v1::GetDepartmentRequest get;
      get.set_id(d.id());
      v1::Department one;
      grpc::Status status = stub_->GetDepartment(&context, get, &one);
      ASSERT_TRUE(status.ok()) << status.error_message();
      EXPECT_EQ(one.SerializeAsString(), d.SerializeAsString());
    }
  }

  testing::TempDir dir_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<OrgDataService::Stub> stub_;
  std::unique_ptr<store::Database> db_;
};

TEST_F(DirectoryTest, DirectReportsPagedByNameEqualTheReferenceQuery) {
  const int64_t manager = BusiestManager();
  const std::vector<std::string> reference = ReferenceReports(manager);
  ASSERT_GE(reference.size(), 4u);
  int pages = 0;
  EXPECT_EQ(PagedReports(manager, 3, &pages), reference);
  EXPECT_EQ(pages, static_cast<int>((reference.size() + 2) / 3));
  EXPECT_EQ(PagedReports(manager, 0, &pages), reference);
  EXPECT_EQ(pages, 1);

  // After writes: two hires named to sort first and last, and a report
  // moved away.
  v1::ApplyChangesRequest r;
  for (auto [id, name] : {std::pair<int64_t, const char*>{900001, "Aaron A"},
                          {900002, "Zygmunt Z"}}) {
    v1::Employee* e = r.add_changes()->mutable_upsert_employee();
    e->set_id(id);
    e->set_manager_id(manager);
    e->set_full_name(name);
    e->set_email(absl::StrCat(id, "@example.com"));
    e->set_hire_date("2025-01-01");
  }
  auto leaf = db_->SelectInt(absl::StrCat(
      "SELECT id FROM employees e WHERE manager_id = ", manager,
      " AND NOT EXISTS (SELECT 1 FROM employees c WHERE c.manager_id = e.id) "
      "ORDER BY id LIMIT 1"));
  ASSERT_OK(leaf);
  v1::MoveEmployee* move = r.add_changes()->mutable_move_employee();
  move->set_id(*leaf);
  move->set_new_manager_id(900001);
  ASSERT_TRUE(Apply(r).ok());
  const std::vector<std::string> after = ReferenceReports(manager);
  EXPECT_EQ(after.front(), "900001:1");
  EXPECT_EQ(after.back(), "900002:0");
  EXPECT_EQ(PagedReports(manager, 2, &pages), after);
  // A leaf has no reports: one empty page.
  EXPECT_TRUE(PagedReports(*leaf, 10, &pages).empty());
  EXPECT_EQ(pages, 1);
}

TEST_F(DirectoryTest, BadDirectReportsRequestsGetTheRightCodes) {
  const int64_t manager = BusiestManager();
  auto call = [&](int64_t id, int page_size, const std::string& token) {
    grpc::ClientContext context;
    v1::ListDirectReportsRequest request;
    request.set_id(id);
    request.set_page_size(page_size);
    request.set_page_token(token);
    v1::ListDirectReportsResponse response;
    grpc::Status status =
        stub_->ListDirectReports(&context, request, &response);
    return std::make_pair(status, response);
  };
  EXPECT_EQ(call(0, 0, "").first.error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(call(manager, -1, "").first.error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  auto unknown = call(99999999, 0, "");
  EXPECT_EQ(unknown.first.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(unknown.first.error_message(), HasSubstr("99999999"));
  auto garbage = call(manager, 0, "not a token");
  EXPECT_EQ(garbage.first.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(garbage.first.error_message(), HasSubstr("page_token"));
  // A token made for another manager.
  auto first = call(manager, 1, "");
  ASSERT_TRUE(first.first.ok());
  ASSERT_FALSE(first.second.next_page_token().empty());
  auto other = call(1, 1, first.second.next_page_token());
  EXPECT_EQ(other.first.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(other.first.error_message(),
              HasSubstr(absl::StrCat("employee ", manager)));
}

TEST_F(DirectoryTest, DepartmentsComeInPreOrderWithTheReferenceHeadcounts) {
  ASSERT_GT(Departments().departments_size(), 1);
  ExpectDepartmentsMatchTheTables();

  // A new department under the first one, headed by someone, with a few
  // employees moved into it; then another below that.
  const v1::Department top = Departments().departments(0);
  v1::ApplyChangesRequest r;
  v1::Department* d = r.add_changes()->mutable_upsert_department();
  d->set_id(500);
  d->set_name("Zeta Lab");
  d->set_parent_id(top.id());
  d->set_head_employee_id(2);
  d = r.add_changes()->mutable_upsert_department();
  d->set_id(501);
  d->set_name("Alpha Cell");
  d->set_parent_id(500);
  ASSERT_TRUE(Apply(r).ok());
  ASSERT_OK(db_->Exec(
      "UPDATE employees SET department_id = 500 WHERE id BETWEEN 10 AND 19;"
      "UPDATE employees SET department_id = 501 WHERE id BETWEEN 20 AND 24"));
  ExpectDepartmentsMatchTheTables();

  grpc::ClientContext context;
  v1::GetDepartmentRequest get;
  get.set_id(501);
  v1::Department cell;
  ASSERT_TRUE(stub_->GetDepartment(&context, get, &cell).ok());
  EXPECT_EQ(cell.direct_headcount(), 5);
  EXPECT_EQ(cell.depth(), top.depth() + 2);
}

TEST_F(DirectoryTest, BadDepartmentRequestsGetTheRightCodes) {
  for (auto [id, code] :
       {std::pair<int64_t, grpc::StatusCode>{0, grpc::INVALID_ARGUMENT},
        {-3, grpc::INVALID_ARGUMENT},
        {987654, grpc::NOT_FOUND}}) {
    grpc::ClientContext context;
    v1::GetDepartmentRequest get;
    get.set_id(id);
    v1::Department out;
    EXPECT_EQ(stub_->GetDepartment(&context, get, &out).error_code(), code)
        << id;
  }
  // Parent links made into a loop by plain SQL: refused, naming them.
  auto ids = db_->SelectInt("SELECT count(*) FROM departments");
  ASSERT_OK(ids);
  ASSERT_OK(db_->Exec(
      "INSERT INTO departments (id, name) VALUES (700, 'Loop A'), (701, "
      "'Loop B'); UPDATE departments SET parent_id = 701 WHERE id = 700; "
      "UPDATE departments SET parent_id = 700 WHERE id = 701"));
  grpc::ClientContext context;
  v1::ListDepartmentsResponse out;
  grpc::Status status =
      stub_->ListDepartments(&context, v1::ListDepartmentsRequest(), &out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DATA_LOSS);
  EXPECT_THAT(status.error_message(), HasSubstr("700, 701"));
}

}  // namespace
}  // namespace pulse::orgdata
