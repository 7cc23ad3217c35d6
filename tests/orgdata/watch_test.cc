// WatchChanges and snapshot tokens (issue 18): list a subtree, then watch
// from its snapshot while writers change the organisation, disconnecting
// and resuming; the copy ends equal to the database's subtree.

#include <atomic>
#include <map>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "libs/store/change_log.h"
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

constexpr char kToken[] = "watch-test-admin-token";

std::chrono::system_clock::time_point In(absl::Duration d) {
  return absl::ToChronoTime(absl::Now() + d);
}

// An employee as the copy holds it.
std::string Fields(const v1::Employee& e) {
  return absl::StrCat(e.has_manager_id() ? e.manager_id() : 0, "|",
                      e.full_name(), "|", e.title(), "|", e.email(), "|",
                      e.has_department_id() ? e.department_id() : 0, "|",
                      e.hire_date(), "|", e.has_notes() ? e.notes() : "-");
}

int64_t SeqOf(const std::string& token) {
  auto parsed = store::ParseToken(token);
  EXPECT_OK(parsed);
  return parsed.ok() ? parsed->seq : -1;
}

class WatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK(testing::MigrateAndSeed(db_path(), 400));
    Server::Options server;
    server.listen_address = "127.0.0.1:0";
    server.db_path = db_path();
    server.service.admin_token = kToken;
    server.service.feed.checkpoint_interval = absl::Milliseconds(100);
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

  // The subtree of `root` read by StreamSubtree, and its snapshot token.
  std::map<int64_t, std::string> List(int64_t root, std::string* snapshot) {
    std::map<int64_t, std::string> out;
    grpc::ClientContext context;
    context.set_deadline(In(absl::Seconds(30)));
    v1::StreamSubtreeRequest request;
    request.set_root_id(root);
    auto reader = stub_->StreamSubtree(&context, request);
    v1::SubtreeChunk chunk;
    bool first = true;
    while (reader->Read(&chunk)) {
      if (first) *snapshot = chunk.snapshot();
      first = false;
      for (const v1::Employee& e : chunk.nodes()) out[e.id()] = Fields(e);
    }
    grpc::Status status = reader->Finish();
    EXPECT_TRUE(status.ok()) << status.error_message();
    return out;
  }

  // The token of a snapshot taken now.
  std::string Now() {
    grpc::ClientContext context;
    v1::ListChainOfCommandRequest request;
    request.set_id(1);
    v1::ListChainOfCommandResponse response;
    grpc::Status status =
        stub_->ListChainOfCommand(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.snapshot();
  }

  grpc::Status Apply(const v1::ApplyChangesRequest& request) {
    grpc::ClientContext context;
    context.AddMetadata("authorization", absl::StrCat("Bearer ", kToken));
    v1::ApplyChangesResponse response;
    return stub_->ApplyChanges(&context, request, &response);
  }

  // Watches from `since` until an event or checkpoint at or past `until`
  // (or `max_events` events), applying events to `copy`; returns the last
  // token seen and the status when the call ended early.
  struct Watched {
    std::string token;
    std::vector<v1::ChangeEvent> events;
    grpc::Status status;
  };
  Watched Watch(const std::string& since, int64_t root, int64_t until,
                size_t max_events = SIZE_MAX) {
    Watched out;
    out.token = since;
    grpc::ClientContext context;
    context.set_deadline(In(absl::Seconds(30)));
    v1::WatchChangesRequest request;
    request.set_since(since);
    request.set_root_id(root);
    auto reader = stub_->WatchChanges(&context, request);
    v1::WatchChangesResponse response;
    bool done = false;
    while (!done && reader->Read(&response)) {
      for (const v1::ChangeEvent& e : response.events()) {
        out.token = e.token();
        if (e.kind() != v1::CHANGE_KIND_CHECKPOINT) out.events.push_back(e);
        if (SeqOf(e.token()) >= until || out.events.size() >= max_events) {
          done = true;
          break;
        }
      }
    }
    if (done) context.TryCancel();
    out.status = reader->Finish();
    return out;
  }

  testing::TempDir dir_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<OrgDataService::Stub> stub_;
  std::unique_ptr<store::Database> db_;
};

// Applies `events` to `copy`; false on ORGANISATION_RELOADED (re-list).
bool ApplyEvents(const std::vector<v1::ChangeEvent>& events,
                 std::map<int64_t, std::string>* copy) {
  for (const v1::ChangeEvent& e : events) {
    switch (e.kind()) {
      case v1::CHANGE_KIND_EMPLOYEE_ADDED:
      case v1::CHANGE_KIND_EMPLOYEE_UPDATED:
      case v1::CHANGE_KIND_EMPLOYEE_MOVED:
        (*copy)[e.employee().id()] = Fields(e.employee());
        break;
      case v1::CHANGE_KIND_EMPLOYEE_DELETED:
        copy->erase(e.employee().id());
        break;
      case v1::CHANGE_KIND_ORGANISATION_RELOADED:
        return false;
      default:
        break;
    }
  }
  return true;
}

TEST_F(WatchTest, ListThenWatchWithResumesEqualsTheSubtreeWhileWritersWrite) {
  // A mid-level manager's subtree.
  auto root = db_->SelectInt(
      "SELECT manager_id FROM employees WHERE manager_id > 1 GROUP BY "
      "manager_id ORDER BY count(*) DESC LIMIT 1");
  ASSERT_OK(root);
  std::string token;
  std::map<int64_t, std::string> copy = List(*root, &token);
  ASSERT_FALSE(token.empty());
  ASSERT_GT(copy.size(), 2u);

  std::atomic<bool> stop{false};
  std::thread writer([&] {
    std::mt19937_64 rng(3);
    auto db = store::Open(db_path(), store::OpenOptions());
    ASSERT_OK(db);
    int64_t next = 100000;
    while (!stop.load()) {
      auto ids_q = (*db)->Prepare(
          "SELECT id FROM employees WHERE id <> 1 AND id <> ? ORDER BY "
          "random() LIMIT 2");
      ASSERT_OK(ids_q);
      ids_q->Bind(1, *root);
      std::vector<int64_t> ids;
      ASSERT_OK(ids_q->ForEachRow([&] {
        ids.push_back(ids_q->Int64(0));
        return absl::OkStatus();
      }));
      if (ids.size() < 2) break;
      const int op = static_cast<int>(rng() % 5);
      if (op == 0) {
        // A hire under someone (in the root's subtree or not).
        v1::ApplyChangesRequest r;
        v1::Employee* e = r.add_changes()->mutable_upsert_employee();
        e->set_id(next++);
        e->set_manager_id(rng() % 2 ? *root : ids[0]);
        e->set_full_name(absl::StrCat("Hire ", next));
        e->set_email(absl::StrCat("hire.", next, "@example.com"));
        e->set_hire_date("2025-01-01");
        Apply(r);
      } else if (op == 1) {
        // A move, into the root's subtree or anywhere (cycles refused).
        v1::ApplyChangesRequest r;
        auto* m = r.add_changes()->mutable_move_employee();
        m->set_id(ids[0]);
        m->set_new_manager_id(rng() % 2 ? *root : ids[1]);
        Apply(r);
      } else if (op == 2) {
        v1::ApplyChangesRequest r;
        r.add_changes()->mutable_delete_employee()->set_id(ids[0]);
        Apply(r);
      } else if (op == 3) {
        // Plain SQL.
        (*db)
            ->Exec(absl::StrCat("UPDATE employees SET title = 'T", rng() % 100,
                                "' WHERE id = ", ids[0]))
            .IgnoreError();
      } else {
        (*db)
            ->Exec(absl::StrCat("UPDATE employees SET manager_id = ", ids[1],
                                " WHERE id = ", ids[0]))
            .IgnoreError();
      }
    }
  });

  // Watch in pieces of a few events, resuming from the last token each
  // time, while the writer writes.
  const absl::Time until = absl::Now() + absl::Seconds(3);
  int pieces = 0;
  while (absl::Now() < until) {
    Watched w = Watch(token, *root, INT64_MAX, 5);
    ASSERT_TRUE(w.status.ok() ||
                w.status.error_code() == grpc::StatusCode::CANCELLED)
        << w.status.error_message();
    token = w.token;
    if (!ApplyEvents(w.events, &copy)) copy = List(*root, &token);
    ++pieces;
  }
  stop = true;
  writer.join();
  // Catch up to now.
  const int64_t target = SeqOf(Now());
  Watched w = Watch(token, *root, target);
  if (!ApplyEvents(w.events, &copy)) copy = List(*root, &token);
  std::string unused;
  EXPECT_EQ(copy, List(*root, &unused));
  EXPECT_GT(pieces, 3);
}

TEST_F(WatchTest, SnapshotThenWatchGivesExactlyTheWritesAfterIt) {
  std::string snapshot;
  List(1, &snapshot);
  v1::ApplyChangesRequest r;
  for (int64_t id : {900001, 900002}) {
    v1::Employee* e = r.add_changes()->mutable_upsert_employee();
    e->set_id(id);
    e->set_manager_id(1);
    e->set_full_name(id == 900001 ? "Grace Hopper" : "Alan Turing");
    e->set_email(absl::StrCat(id, "@example.com"));
    e->set_hire_date("2025-01-01");
  }
  ASSERT_TRUE(Apply(r).ok());
  Watched w = Watch(snapshot, 0, SeqOf(Now()));
  ASSERT_TRUE(w.status.ok() ||
              w.status.error_code() == grpc::StatusCode::CANCELLED);
  ASSERT_EQ(w.events.size(), 2u);
  EXPECT_EQ(w.events[0].kind(), v1::CHANGE_KIND_EMPLOYEE_ADDED);
  EXPECT_EQ(w.events[0].employee().full_name(), "Grace Hopper");
  EXPECT_EQ(w.events[0].employee().depth(), 1);
  EXPECT_GT(w.events[0].committed_at_ms(), 0);
  // One call, one commit, named by its first change.
  EXPECT_EQ(w.events[0].commit(), SeqOf(w.events[0].token()));
  EXPECT_EQ(w.events[1].commit(), w.events[0].commit());
  // Resuming from the first event's token: the second, then only
  // checkpoints.
  Watched after = Watch(w.events[0].token(), 0, SeqOf(Now()));
  ASSERT_EQ(after.events.size(), 1u);
  EXPECT_EQ(after.events[0].employee().full_name(), "Alan Turing");
}

TEST_F(WatchTest, AWatcherOfOneSubtreeSeesNothingOfChangesElsewhere) {
  // Two disjoint subtrees under the top.
  auto a = db_->SelectInt(
      "SELECT id FROM employees WHERE manager_id = 1 ORDER BY id LIMIT 1");
  auto b = db_->SelectInt(
      "SELECT id FROM employees WHERE manager_id = 1 ORDER BY id DESC LIMIT "
      "1");
  ASSERT_OK(a);
  ASSERT_OK(b);
  ASSERT_NE(*a, *b);
  const std::string from = Now();
  ASSERT_OK(db_->Exec(absl::StrCat(
      "UPDATE employees SET title = 'Elsewhere' WHERE org_path LIKE (SELECT "
      "org_path FROM employees WHERE id = ",
      *b, ") || '%'")));
  ASSERT_OK(db_->Exec(
      absl::StrCat("UPDATE employees SET title = 'Here' WHERE id = ", *a)));
  Watched w = Watch(from, *a, SeqOf(Now()));
  ASSERT_EQ(w.events.size(), 1u);
  EXPECT_EQ(w.events[0].kind(), v1::CHANGE_KIND_EMPLOYEE_UPDATED);
  EXPECT_EQ(w.events[0].employee().id(), *a);
  EXPECT_EQ(w.events[0].employee().title(), "Here");
  EXPECT_EQ(w.events[0].employee().depth(), 0);
}

TEST_F(WatchTest, MovesInAndOutArriveAsAddedAndDeleted) {
  auto a = db_->SelectInt(
      "SELECT id FROM employees WHERE manager_id = 1 ORDER BY id LIMIT 1");
  auto outsider = db_->SelectInt(
      "SELECT e.id FROM employees e WHERE e.manager_id > 1 AND NOT EXISTS "
      "(SELECT 1 FROM employees c WHERE c.manager_id = e.id) AND e.org_path "
      "NOT LIKE (SELECT org_path FROM employees WHERE id = 2) || '%' AND "
      "instr(e.org_path, printf('%08x', (SELECT id FROM employees WHERE "
      "manager_id = 1 ORDER BY id LIMIT 1))) = 0 LIMIT 1");
  ASSERT_OK(a);
  ASSERT_OK(outsider);
  const std::string from = Now();
  ASSERT_OK(db_->Exec(absl::StrCat("UPDATE employees SET manager_id = ", *a,
                                   " WHERE id = ", *outsider)));
  ASSERT_OK(db_->Exec(absl::StrCat(
      "UPDATE employees SET manager_id = 1 WHERE id = ", *outsider)));
  Watched w = Watch(from, *a, SeqOf(Now()));
  ASSERT_EQ(w.events.size(), 2u);
  EXPECT_EQ(w.events[0].kind(), v1::CHANGE_KIND_EMPLOYEE_ADDED);
  EXPECT_EQ(w.events[0].employee().id(), *outsider);
  EXPECT_EQ(w.events[0].employee().depth(), 1);
  EXPECT_EQ(w.events[1].kind(), v1::CHANGE_KIND_EMPLOYEE_DELETED);
  // The whole organisation sees two moves, each naming the old manager.
  Watched all = Watch(from, 0, SeqOf(Now()));
  ASSERT_EQ(all.events.size(), 2u);
  EXPECT_EQ(all.events[0].kind(), v1::CHANGE_KIND_EMPLOYEE_MOVED);
  EXPECT_EQ(all.events[0].employee().manager_id(), *a);
  EXPECT_EQ(all.events[1].kind(), v1::CHANGE_KIND_EMPLOYEE_MOVED);
  EXPECT_EQ(all.events[1].old_manager_id(), *a);
  // Two plain-SQL transactions that do not record themselves: two commits.
  EXPECT_NE(all.events[0].commit(), all.events[1].commit());
}

// Streams `request`, returning the ids and every chunk's next_cursor.
struct Paged {
  std::vector<int64_t> ids;
  std::vector<std::string> cursors;
  bool truncated = false;
  grpc::Status status;
};

TEST_F(WatchTest, ACursorResumesACutStreamExactlyAndPagesWithMaxNodes) {
  auto stream = [&](const v1::StreamSubtreeRequest& request,
                    size_t stop_after_chunks = SIZE_MAX) {
    Paged out;
    grpc::ClientContext context;
    context.set_deadline(In(absl::Seconds(30)));
    auto reader = stub_->StreamSubtree(&context, request);
    v1::SubtreeChunk chunk;
    while (out.cursors.size() < stop_after_chunks && reader->Read(&chunk)) {
      for (const auto& e : chunk.nodes()) out.ids.push_back(e.id());
      out.cursors.push_back(chunk.next_cursor());
      out.truncated |= chunk.truncated();
    }
    if (out.cursors.size() >= stop_after_chunks) context.TryCancel();
    out.status = reader->Finish();
    return out;
  };
  for (v1::Order order : {v1::ORDER_DEPTH_FIRST, v1::ORDER_BREADTH_FIRST}) {
    v1::StreamSubtreeRequest request;
    request.set_root_id(1);
    request.set_order(order);
    const Paged whole = stream(request);
    ASSERT_TRUE(whole.status.ok()) << whole.status.error_message();
    ASSERT_EQ(whole.ids.size(), 400u);

    // A stream cut after its first chunk, resumed from that chunk's cursor.
    const Paged cut = stream(request, 1);
    ASSERT_FALSE(cut.cursors.empty());
    ASSERT_FALSE(cut.cursors[0].empty());
    v1::StreamSubtreeRequest resume = request;
    resume.set_cursor(cut.cursors[0]);
    const Paged rest = stream(resume);
    ASSERT_TRUE(rest.status.ok()) << rest.status.error_message();
    std::vector<int64_t> joined = cut.ids;
    joined.insert(joined.end(), rest.ids.begin(), rest.ids.end());
    EXPECT_EQ(joined, whole.ids);

    // Pages of 150.
    std::vector<int64_t> paged;
    v1::StreamSubtreeRequest page = request;
    page.set_max_nodes(150);
    for (int i = 0; i < 4; ++i) {
      const Paged p = stream(page);
      ASSERT_TRUE(p.status.ok()) << p.status.error_message();
      paged.insert(paged.end(), p.ids.begin(), p.ids.end());
      if (!p.truncated) break;
      page.set_cursor(p.cursors.back());
    }
    EXPECT_EQ(paged, whole.ids);
  }

  // After a change: ABORTED. Another root's cursor or nonsense:
  // INVALID_ARGUMENT.
  v1::StreamSubtreeRequest request;
  request.set_root_id(1);
  request.set_max_nodes(10);
  const Paged first = stream(request);
  ASSERT_TRUE(first.truncated);
  v1::StreamSubtreeRequest other = request;
  other.set_root_id(2);
  other.set_cursor(first.cursors.back());
  EXPECT_EQ(stream(other).status.error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  other.set_cursor("c1/nonsense");
  EXPECT_EQ(stream(other).status.error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  ASSERT_OK(db_->Exec("UPDATE employees SET title = 'New' WHERE id = 9"));
  request.set_cursor(first.cursors.back());
  const Paged changed = stream(request);
  EXPECT_EQ(changed.status.error_code(), grpc::StatusCode::ABORTED);
  EXPECT_THAT(changed.status.error_message(),
              HasSubstr("changed since the cursor's snapshot"));
}

TEST_F(WatchTest, BadAndOldTokensAreRefused) {
  Watched bad = Watch("not-a-token", 0, 0);
  EXPECT_EQ(bad.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  Watched negative = Watch("", -4, 0);
  EXPECT_EQ(negative.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  const std::string old = Now();
  ASSERT_OK(db_->Exec("UPDATE employees SET title = 'x' WHERE id <= 5"));
  // Pruned past the token: OUT_OF_RANGE, saying what to do.
  ASSERT_OK(db_->Exec("BEGIN IMMEDIATE"));
  ASSERT_OK(store::PruneChangeLog(*db_, /*older_than_ms=*/0,
                                  /*keep_rows=*/2, /*max_rows=*/100));
  ASSERT_OK(db_->Exec("COMMIT"));
  Watched pruned = Watch(old, 0, 0);
  EXPECT_EQ(pruned.status.error_code(), grpc::StatusCode::OUT_OF_RANGE);
  EXPECT_THAT(pruned.status.error_message(),
              HasSubstr("read the subtree afresh"));

  // A token from before a restore (a new epoch): OUT_OF_RANGE too.
  const std::string before = Now();
  ASSERT_OK(store::ReplaceChangeLogEpoch(*db_));
  Watched restored = Watch(before, 0, 0);
  EXPECT_EQ(restored.status.error_code(), grpc::StatusCode::OUT_OF_RANGE);
}

}  // namespace
}  // namespace pulse::orgdata
