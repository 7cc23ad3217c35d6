// Direct reports and departments (issue 19), compared with reference
// queries on a seeded organisation, before and after writes.

#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "libs/store/store.h"
#include "pulse/orgdata/v1/orgdata.grpc.pb.h"
#include "services/orgdata/server.h"
#include "tests/test_util/seeded_db.h"
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
    ASSERT_OK(testing::MigrateAndSeed(db_path(), 600));
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

  // The ids SearchEmployees should give, in order, by a walk over the
  // table: words split as the index does (letters and digits, '.' and '@'
  // belong to words), each query word a prefix of a word of the name, the
  // title or the email; exact names first, then by id.
  std::vector<int64_t> ReferenceSearch(const std::string& query,
                                       std::optional<int64_t> department,
                                       std::optional<int64_t> manager) {
    auto words_of = [](const std::string& text) {
      std::vector<std::string> out;
      std::string word;
      for (char c : text + " ") {
        if (std::isalnum(static_cast<unsigned char>(c)) || c == '.' ||
            c == '@') {
          word += absl::ascii_tolower(c);
        } else if (!word.empty()) {
          out.push_back(word);
          word.clear();
        }
      }
      return out;
    };
    const std::vector<std::string> wanted = words_of(query);
    std::string under;
    if (manager) {
      auto q = db_->Prepare("SELECT org_path FROM employees WHERE id = ?");
      EXPECT_OK(q);
      q->Bind(1, *manager);
      EXPECT_OK(q->Step());
      under = q->Text(0);
    }
    std::vector<int64_t> exact, rest;
    auto q = db_->Prepare(
        "SELECT id, full_name, title, email, department_id, org_path FROM "
        "employees ORDER BY id");
    EXPECT_OK(q);
    EXPECT_OK(q->ForEachRow([&] {
      if (department && q->OptionalInt64(4) != department) {
        return absl::OkStatus();
      }
      if (manager && !absl::StartsWith(q->Text(5), under)) {
        return absl::OkStatus();
      }
      std::vector<std::string> words = words_of(q->Text(1));
      for (const std::string& w : words_of(q->Text(2))) words.push_back(w);
      for (const std::string& w : words_of(q->Text(3))) words.push_back(w);
      const bool all = std::all_of(
          wanted.begin(), wanted.end(), [&](const std::string& want) {
            return std::any_of(words.begin(), words.end(),
                               [&](const std::string& w) {
                                 return absl::StartsWith(w, want);
                               });
          });
      if (!all) return absl::OkStatus();
      (absl::EqualsIgnoreCase(q->Text(1), query) ? exact : rest)
          .push_back(q->Int64(0));
      return absl::OkStatus();
    }));
    exact.insert(exact.end(), rest.begin(), rest.end());
    return exact;
  }

  // SearchEmployees, `page_size` at a time, all pages.
  std::vector<int64_t> PagedSearch(const std::string& query,
                                   std::optional<int64_t> department,
                                   std::optional<int64_t> manager,
                                   int page_size) {
    std::vector<int64_t> out;
    std::string token;
    int pages = 0;
    do {
      grpc::ClientContext context;
      v1::SearchEmployeesRequest request;
      request.set_query(query);
      if (department) request.set_department_id(*department);
      if (manager) request.set_manager_id(*manager);
      request.set_page_size(page_size);
      request.set_page_token(token);
      v1::SearchEmployeesResponse response;
      grpc::Status status =
          stub_->SearchEmployees(&context, request, &response);
      EXPECT_TRUE(status.ok()) << status.error_message();
      if (!status.ok()) break;
      EXPECT_LE(response.employees_size(), page_size);
      for (const v1::Employee& e : response.employees()) out.push_back(e.id());
      token = response.next_page_token();
    } while (!token.empty() && ++pages < 10000);
    return out;
  }

  // A prefix of the name of employee `id`: `letters` of its first word.
  std::string NamePrefix(int64_t id, size_t letters) {
    auto q = db_->Prepare("SELECT full_name FROM employees WHERE id = ?");
    EXPECT_OK(q);
    q->Bind(1, id);
    EXPECT_OK(q->Step());
    return q->Text(0).substr(0, letters);
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

TEST_F(DirectoryTest, SearchEqualsAWalkOverTheTableBeforeAndAfterWrites) {
  const std::string three = NamePrefix(7, 3);
  auto department = db_->SelectInt(
      "SELECT department_id FROM employees WHERE department_id IS NOT NULL "
      "GROUP BY 1 ORDER BY count(*) DESC LIMIT 1");
  ASSERT_OK(department);
  const int64_t manager = BusiestManager();
  auto check = [&](const std::string& query) {
    SCOPED_TRACE(query);
    const std::vector<int64_t> all =
        ReferenceSearch(query, std::nullopt, std::nullopt);
    EXPECT_EQ(PagedSearch(query, std::nullopt, std::nullopt, 7), all);
    EXPECT_EQ(PagedSearch(query, *department, std::nullopt, 5),
              ReferenceSearch(query, *department, std::nullopt));
    EXPECT_EQ(PagedSearch(query, std::nullopt, manager, 3),
              ReferenceSearch(query, std::nullopt, manager));
    return all;
  };
  EXPECT_GT(check(three).size(), 1u);
  check(absl::AsciiStrToUpper(three.substr(0, 2)));
  // A whole name and a word of it; an email from its start; a title word.
  const std::string name = NamePrefix(7, 100);
  EXPECT_EQ(check(name).front(), 7);
  const std::vector<std::string> name_words = absl::StrSplit(name, ' ');
  check(name_words.back().substr(0, 4));
  check("eng");

  // Writes by every path: a hire named exactly as the query's name (who
  // must come first), a rename, a delete, a plain-SQL title change.
  v1::ApplyChangesRequest r;
  v1::Employee* e = r.add_changes()->mutable_upsert_employee();
  e->set_id(900100);
  e->set_manager_id(manager);
  e->set_full_name(name);
  e->set_title("Search Probe");
  e->set_email("probe.one@example.com");
  e->set_hire_date("2025-01-01");
  v1::DeleteEmployee* gone = r.add_changes()->mutable_delete_employee();
  gone->set_id(
      *db_->SelectInt("SELECT max(id) FROM employees WHERE id < 900000"));
  ASSERT_TRUE(Apply(r).ok());
  ASSERT_OK(db_->Exec(
      absl::StrCat("UPDATE employees SET full_name = '", three,
                   "zzle Quux', title = 'Chief Probe' WHERE id = 11")));
  const std::vector<int64_t> exact = check(name);
  ASSERT_GE(exact.size(), 2u);
  EXPECT_EQ(exact[0], 7);
  EXPECT_EQ(exact[1], 900100);
  check(three);
  check("probe");
  check("probe.one@ex");
  check("quux");
  // The index agrees with the table, row for row.
  EXPECT_OK(
      db_->Exec("INSERT INTO employee_search (employee_search) VALUES "
                "('integrity-check')"));
}

TEST_F(DirectoryTest, BadSearchesGetTheRightCodes) {
  auto call = [&](const std::string& query, std::optional<int64_t> department,
                  std::optional<int64_t> manager, int page_size,
                  const std::string& token) {
    grpc::ClientContext context;
    v1::SearchEmployeesRequest request;
    request.set_query(query);
    if (department) request.set_department_id(*department);
    if (manager) request.set_manager_id(*manager);
    request.set_page_size(page_size);
    request.set_page_token(token);
    v1::SearchEmployeesResponse response;
    grpc::Status status = stub_->SearchEmployees(&context, request, &response);
    return std::make_pair(status, response);
  };
  EXPECT_EQ(call("  ", {}, {}, 0, "").first.error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(call("a", {}, {}, -2, "").first.error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(call("a", 987654, {}, 0, "").first.error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(call("a", {}, 99999999, 0, "").first.error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(call("a", {}, 0, 0, "").first.error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(call("a", {}, {}, 0, "garbage").first.error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  // Punctuation alone is no word to search for, but no error either.
  auto punctuation = call("- ' ,", {}, {}, 0, "");
  EXPECT_TRUE(punctuation.first.ok() || punctuation.first.error_code() ==
                                            grpc::StatusCode::INVALID_ARGUMENT)
      << punctuation.first.error_message();
  // A token is for the search that made it.
  auto first = call("a", {}, {}, 1, "");
  ASSERT_TRUE(first.first.ok());
  ASSERT_FALSE(first.second.next_page_token().empty());
  auto other = call("b", {}, {}, 1, first.second.next_page_token());
  EXPECT_EQ(other.first.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(other.first.error_message(), HasSubstr("another search"));
}

// The fields an Employee carries, by name.
std::vector<std::string> SetFields(const v1::Employee& e) {
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  e.GetReflection()->ListFields(e, &fields);
  std::vector<std::string> names;
  for (const auto* f : fields) names.push_back(f->name());
  return names;
}

TEST_F(DirectoryTest, ReadMasksSendOnlyTheNamedFields) {
  using ::testing::ElementsAre;
  const int64_t manager = BusiestManager();
  // A stream: id and manager_id always, then what is named.
  grpc::ClientContext context;
  v1::StreamSubtreeRequest stream;
  stream.set_root_id(1);
  stream.mutable_read_mask()->add_paths("full_name");
  auto reader = stub_->StreamSubtree(&context, stream);
  v1::SubtreeChunk chunk;
  std::map<int64_t, std::string> names;
  while (reader->Read(&chunk)) {
    for (const v1::Employee& e : chunk.nodes()) {
      names[e.id()] = e.full_name();
      if (e.id() == 1) {
        EXPECT_THAT(SetFields(e), ElementsAre("id", "full_name"));
      } else {
        EXPECT_THAT(SetFields(e), ElementsAre("id", "manager_id", "full_name"))
            << e.id();
      }
    }
  }
  ASSERT_TRUE(reader->Finish().ok());
  auto count = db_->SelectInt("SELECT count(*) FROM employees");
  ASSERT_OK(count);
  EXPECT_EQ(static_cast<int64_t>(names.size()), *count);
  EXPECT_EQ(names[7], NamePrefix(7, 100));

  {
    grpc::ClientContext c;
    v1::GetEmployeeRequest get;
    get.set_id(7);
    get.mutable_read_mask()->add_paths("email");
    v1::Employee e;
    ASSERT_TRUE(stub_->GetEmployee(&c, get, &e).ok());
    EXPECT_THAT(SetFields(e), ElementsAre("id", "email"));
  }
  {
    grpc::ClientContext c;
    v1::ListDirectReportsRequest list;
    list.set_id(manager);
    list.mutable_read_mask()->add_paths("direct_reports");
    list.mutable_read_mask()->add_paths("full_name");
    v1::ListDirectReportsResponse out;
    ASSERT_TRUE(stub_->ListDirectReports(&c, list, &out).ok());
    ASSERT_GT(out.reports_size(), 0);
    EXPECT_THAT(SetFields(out.reports(0)),
                ElementsAre("id", "full_name", "direct_reports"));
  }
  {
    grpc::ClientContext c;
    v1::SearchEmployeesRequest search;
    search.set_query(NamePrefix(7, 3));
    search.mutable_read_mask()->add_paths("title");
    v1::SearchEmployeesResponse out;
    ASSERT_TRUE(stub_->SearchEmployees(&c, search, &out).ok());
    ASSERT_GT(out.employees_size(), 0);
    EXPECT_THAT(SetFields(out.employees(0)), ElementsAre("id", "title"));
  }

  // A path that is no field: INVALID_ARGUMENT everywhere, naming it.
  {
    grpc::ClientContext c;
    v1::StreamSubtreeRequest bad = stream;
    bad.mutable_read_mask()->add_paths("salary");
    auto r = stub_->StreamSubtree(&c, bad);
    while (r->Read(&chunk)) {
    }
    grpc::Status status = r->Finish();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(status.error_message(), HasSubstr("salary"));
  }
  {
    grpc::ClientContext c;
    v1::GetEmployeeRequest get;
    get.set_id(7);
    get.mutable_read_mask()->add_paths("salary");
    v1::Employee e;
    EXPECT_EQ(stub_->GetEmployee(&c, get, &e).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
  }
  {
    grpc::ClientContext c;
    v1::ListDirectReportsRequest list;
    list.set_id(manager);
    list.mutable_read_mask()->add_paths("salary");
    v1::ListDirectReportsResponse out;
    EXPECT_EQ(stub_->ListDirectReports(&c, list, &out).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
  }
  {
    grpc::ClientContext c;
    v1::SearchEmployeesRequest search;
    search.set_query("a");
    search.mutable_read_mask()->add_paths("salary");
    v1::SearchEmployeesResponse out;
    EXPECT_EQ(stub_->SearchEmployees(&c, search, &out).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
  }
}

TEST_F(DirectoryTest, AStreamOfSomeDepartmentsKeepsTheTreeConnected) {
  // Two departments of middling size.
  std::vector<int64_t> wanted;
  auto q = db_->Prepare(
      "SELECT department_id FROM employees WHERE department_id IS NOT NULL "
      "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 2 OFFSET 3");
  ASSERT_OK(q);
  ASSERT_OK(q->ForEachRow([&] {
    wanted.push_back(q->Int64(0));
    return absl::OkStatus();
  }));
  ASSERT_EQ(wanted.size(), 2u);
  // The reference: their members, and everyone above a member.
  std::set<int64_t> members, above;
  auto m = db_->Prepare(absl::StrCat(
      "SELECT id, org_path FROM employees WHERE department_id IN (", wanted[0],
      ", ", wanted[1], ")"));
  ASSERT_OK(m);
  ASSERT_OK(m->ForEachRow([&] {
    members.insert(m->Int64(0));
    const std::string path = m->Text(1);
    for (size_t at = 0; at + 8 < path.size(); at += 8) {
      above.insert(std::stoll(path.substr(at, 8), nullptr, 16));
    }
    return absl::OkStatus();
  }));
  for (int64_t id : members) above.erase(id);

  auto stream = [&](int64_t max_nodes, v1::Order order,
                    std::vector<v1::Employee>* nodes, bool* truncated) {
    grpc::ClientContext context;
    v1::StreamSubtreeRequest request;
    request.set_root_id(1);
    request.set_order(order);
    request.set_max_nodes(max_nodes);
    for (int64_t id : wanted) request.add_department_ids(id);
    auto reader = stub_->StreamSubtree(&context, request);
    v1::SubtreeChunk chunk;
    while (reader->Read(&chunk)) {
      for (const v1::Employee& e : chunk.nodes()) nodes->push_back(e);
      EXPECT_TRUE(chunk.next_cursor().empty());
      if (chunk.truncated()) *truncated = true;
    }
    return reader->Finish();
  };
  std::vector<v1::Employee> nodes;
  bool truncated = false;
  ASSERT_TRUE(stream(0, v1::ORDER_DEPTH_FIRST, &nodes, &truncated).ok());
  EXPECT_FALSE(truncated);
  std::set<int64_t> seen, in, outside;
  for (const v1::Employee& e : nodes) {
    if (e.id() != 1) {
      EXPECT_EQ(seen.count(e.manager_id()), 1u)
          << e.id() << " came before its manager " << e.manager_id();
    }
    EXPECT_TRUE(seen.insert(e.id()).second) << e.id() << " came twice";
    (e.outside_filter() ? outside : in).insert(e.id());
  }
  EXPECT_EQ(in, members);
  EXPECT_EQ(outside, above);
  ASSERT_FALSE(above.empty());
  ASSERT_GT(nodes.size(), 10u);

  // max_nodes counts the connecting managers too.
  std::vector<v1::Employee> five;
  truncated = false;
  ASSERT_TRUE(stream(5, v1::ORDER_DEPTH_FIRST, &five, &truncated).ok());
  EXPECT_TRUE(truncated);
  ASSERT_EQ(five.size(), 5u);
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ(five[i].id(), nodes[i].id());

  std::vector<v1::Employee> none;
  EXPECT_EQ(stream(0, v1::ORDER_BREADTH_FIRST, &none, &truncated).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  wanted = {987654};
  EXPECT_EQ(stream(0, v1::ORDER_DEPTH_FIRST, &none, &truncated).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

}  // namespace
}  // namespace pulse::orgdata
