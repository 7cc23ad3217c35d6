#include "services/orgdata/orgdata_service.h"

#include <algorithm>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "grpcpp/support/proto_buffer_reader.h"
#include "libs/common/grpc_util.h"
#include "libs/store/change_log.h"
#include "libs/store/path.h"
#include "libs/write/rows.h"
#include "services/orgdata/chunk_encoder.h"

namespace pulse::orgdata {
namespace {

grpc::Status InvalidId(const char* field, int64_t value) {
  return grpc::Status(
      grpc::StatusCode::INVALID_ARGUMENT,
      absl::StrCat(field, " must be a positive employee id, not ", value));
}

void ToProto(const write::WriteSummary& s, v1::WriteSummary* out) {
  out->set_employees_added(s.added);
  out->set_employees_updated(s.updated);
  out->set_employees_moved(s.moved);
  out->set_employees_deleted(s.deleted);
  out->set_employees_unchanged(s.unchanged);
  out->set_reports_reassigned(s.reports_reassigned);
  out->set_departments_added(s.departments_added);
  out->set_departments_updated(s.departments_updated);
  out->set_departments_deleted(s.departments_deleted);
}

std::optional<int64_t> Optional(bool has, int64_t value) {
  return has ? std::optional<int64_t>(value) : std::nullopt;
}

// The change as the write library takes it; INVALID_ARGUMENT for an empty
// one.
absl::StatusOr<write::Change> FromProto(const v1::Change& c, size_t index) {
  switch (c.change_case()) {
    case v1::Change::kUpsertEmployee: {
      const v1::Employee& e = c.upsert_employee();
      write::UpsertEmployee u;
      u.id = e.id();
      u.manager_id = Optional(e.has_manager_id(), e.manager_id());
      u.department_id = Optional(e.has_department_id(), e.department_id());
      u.full_name = e.full_name();
      u.title = e.title();
      u.email = e.email();
      u.hire_date = e.hire_date();
      if (e.has_notes()) u.notes = e.notes();
      return u;
    }
    case v1::Change::kMoveEmployee:
      return write::MoveEmployee{
          c.move_employee().id(),
          Optional(c.move_employee().has_new_manager_id(),
                   c.move_employee().new_manager_id())};
    case v1::Change::kDeleteEmployee:
      return write::DeleteEmployee{
          c.delete_employee().id(),
          Optional(c.delete_employee().has_reassign_reports_to(),
                   c.delete_employee().reassign_reports_to())};
    case v1::Change::kUpsertDepartment: {
      const v1::Department& d = c.upsert_department();
      return write::UpsertDepartment{
          d.id(), d.name(), Optional(d.has_parent_id(), d.parent_id()),
          Optional(d.has_head_employee_id(), d.head_employee_id())};
    }
    case v1::Change::kDeleteDepartment:
      return write::DeleteDepartment{c.delete_department().id()};
    case v1::Change::CHANGE_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("changes[", index, "]: names no change"));
}

hierarchy::Order FromProto(v1::Order order) {
  return order == v1::ORDER_BREADTH_FIRST ? hierarchy::Order::kBreadthFirst
                                          : hierarchy::Order::kDepthFirst;
}

}  // namespace

OrgDataServiceImpl::OrgDataServiceImpl(store::ConnectionPool* pool,
                                       const migrate::RevisionGate* gate,
                                       GateMonitor* monitor, Writer* writer,
                                       Options options)
    : pool_(pool),
      gate_(gate),
      monitor_(monitor),
      writer_(writer),
      options_(options),
      chunk_readers_(
          static_cast<int>(std::max(2u, std::thread::hardware_concurrency()))),
      // A quarter of the age: a snapshot lives at most 1.25 times it.
      reaper_(std::max(options.max_snapshot_age / 4, absl::Milliseconds(50)),
              [this] { ReapOldSnapshots(); }),
      feed_(pool, writer, options.feed) {
  reaper_.Start();
}

OrgDataServiceImpl::~OrgDataServiceImpl() { reaper_.Stop(); }

absl::StatusOr<std::unique_ptr<hierarchy::Snapshot>>
OrgDataServiceImpl::OpenGated(std::shared_ptr<const GateFacts>* facts_out) {
  auto lease = pool_->Acquire();
  if (!lease.ok()) {
    absl::Status unavailable = absl::UnavailableError(absl::StrCat(
        "the database cannot be opened: ", lease.status().message()));
    monitor_->Observe(unavailable);
    return unavailable;
  }
  auto snapshot = hierarchy::Snapshot::Begin(*std::move(lease), &read_caches_);
  if (!snapshot.ok()) return snapshot.status();
  // The revision state and the gate's verdict on it, kept for the
  // connection until another connection commits (a migration).
  store::Connection& connection = (*snapshot)->connection();
  const int64_t data_version = (*snapshot)->data_version();
  std::shared_ptr<const GateFacts> facts =
      gate_facts_.Find(connection, data_version);
  if (facts == nullptr) {
    auto read = migrate::ReadRevisionState(connection);
    if (!read.ok()) {
      monitor_->Observe(read.status());
      return read.status();
    }
    auto made = std::make_shared<GateFacts>();
    made->verdict = gate_->Judge((*snapshot)->db(), *read);
    auto log = store::ReadChangeLogState((*snapshot)->db());
    if (!log.ok()) return log.status();
    if (log->has_value()) {
      made->snapshot_token =
          store::FormatToken({(*log)->epoch, (*log)->last_seq});
    }
    made->state =
        std::make_shared<const migrate::RevisionState>(*std::move(read));
    gate_facts_.Put(connection, data_version, made);
    facts = std::move(made);
  }
  absl::Status verdict = facts->verdict;
  if (facts->state->migration_in_progress) {
    // The marker stays when its migration is killed, and nothing commits
    // to say so: whether its lock is still held is judged every time.
    verdict = gate_->Judge((*snapshot)->db(), *facts->state);
  }
  monitor_->Observe(verdict);
  if (!verdict.ok()) return verdict;
  if (facts_out != nullptr) *facts_out = facts;
  return snapshot;
}

namespace {

// A subtree stream's position: the snapshot it was read at, the request's
// shape and the nodes sent. "c1/<snapshot>/<root>/<max_depth>/<order>/
// <direct reports 0|1>/<nodes>".
struct Cursor {
  std::string snapshot;
  int64_t root = 0;
  int32_t max_depth = 0;
  int order = 0;
  bool direct_reports = false;
  int64_t nodes = 0;
};

std::string FormatCursor(const Cursor& c) {
  return absl::StrCat("c1/", c.snapshot, "/", c.root, "/", c.max_depth, "/",
                      c.order, "/", c.direct_reports ? 1 : 0, "/", c.nodes);
}

absl::StatusOr<Cursor> ParseCursor(absl::string_view text) {
  std::vector<absl::string_view> parts = absl::StrSplit(text, '/');
  Cursor c;
  int direct = 0;
  if (parts.size() != 7 || parts[0] != "c1" ||
      !store::ParseToken(parts[1]).ok() ||
      !absl::SimpleAtoi(parts[2], &c.root) ||
      !absl::SimpleAtoi(parts[3], &c.max_depth) ||
      !absl::SimpleAtoi(parts[4], &c.order) ||
      !absl::SimpleAtoi(parts[5], &direct) ||
      !absl::SimpleAtoi(parts[6], &c.nodes) || c.nodes < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cursor '", text, "' is not a chunk's next_cursor"));
  }
  c.snapshot = std::string(parts[1]);
  c.direct_reports = direct != 0;
  return c;
}

}  // namespace

// One StreamSubtree call. Every reaction reads one chunk and starts its
// write; the next chunk is read when that write is done, so a client that
// stops reading holds a snapshot and one chunk, and no thread. Deletes
// itself when gRPC is done with the call.
//
// The reaper may drop the snapshot of a stream whose client has stopped
// reading (it holds it past max_snapshot_age): the snapshot and its reader
// are guarded by mu_, which reactions hold while they read a chunk.
class OrgDataServiceImpl::SubtreeStream final
    : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  SubtreeStream(OrgDataServiceImpl* service,
                grpc::CallbackServerContext* context,
                const v1::StreamSubtreeRequest* request)
      : service_(service), log_("StreamSubtree", *context) {
    if (request == nullptr) {
      End(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                       "the request is not a StreamSubtreeRequest"));
      return;
    }
    Begin(*request);
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      End(grpc::Status(grpc::StatusCode::CANCELLED, "the client went away"));
      return;
    }
    if (sent_ > service_->options_.first_chunk_nodes) {
      SendNext(service_->options_.chunk_nodes);
      return;
    }
    // gRPC may hold a chunk it reported written until the reactions that
    // follow return (here, while writes complete at once, several chunks'
    // reads): read the second chunk on another thread, so the first leaves
    // now. Later chunks are read here, which streams faster.
    service_->chunk_readers_.Schedule(
        [this] { SendNext(service_->options_.chunk_nodes); });
  }

  // May run at the same time as another reaction: it only raises the flag
  // that the read's progress handler checks.
  void OnCancel() override { cancelled_ = true; }

  void OnDone() override { delete this; }

  // Drops the snapshot if it was taken before `cutoff` (the reaper, on its
  // own thread); the stream ends ABORTED at its next reaction. True if it
  // did.
  bool ExpireIfBefore(absl::Time cutoff) {
    absl::MutexLock lock(&mu_);
    if (snapshot_ == nullptr || snapshot_taken_ >= cutoff) return false;
    expired_ = true;
    DropSnapshot();
    return true;
  }

 private:
  ~SubtreeStream() override { Release(); }

  void Begin(const v1::StreamSubtreeRequest& request) {
    hierarchy::SubtreeRequest query;
    query.root_id = request.root_id();
    query.max_depth = request.max_depth();
    query.order = FromProto(request.order());
    query.max_nodes = request.max_nodes();
    query.with_direct_reports = request.include_direct_reports();
    if (absl::Status s = hierarchy::ValidateSubtreeRequest(query); !s.ok()) {
      End(ToGrpcStatus(s));
      return;
    }
    auto mask = EmployeeMask::FromReadMask(request.read_mask(),
                                           /*keep_manager=*/true);
    if (!mask.ok()) {
      End(ToGrpcStatus(mask.status()));
      return;
    }
    mask_ = *mask;
    if (!request.department_ids().empty()) {
      if (request.order() == v1::ORDER_BREADTH_FIRST ||
          !request.cursor().empty()) {
        End(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                         "department_ids works with depth-first order and "
                         "without a cursor"));
        return;
      }
      for (int64_t id : request.department_ids()) {
        if (id <= 0) {
          End(grpc::Status(
              grpc::StatusCode::INVALID_ARGUMENT,
              absl::StrCat("department_ids must be positive, not ", id)));
          return;
        }
        departments_.insert(id);
      }
      // The reader reads every node; the limit is on what is sent.
      max_sent_ = query.max_nodes;
      query.max_nodes = 0;
    }
    cursor_.root = request.root_id();
    cursor_.max_depth = request.max_depth();
    cursor_.order = static_cast<int>(request.order());
    cursor_.direct_reports = request.include_direct_reports();
    std::optional<Cursor> resume;
    if (!request.cursor().empty()) {
      auto parsed = ParseCursor(request.cursor());
      if (!parsed.ok()) {
        End(ToGrpcStatus(parsed.status()));
        return;
      }
      if (parsed->root != cursor_.root ||
          parsed->max_depth != cursor_.max_depth ||
          parsed->order != cursor_.order ||
          parsed->direct_reports != cursor_.direct_reports) {
        End(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                         "the cursor is from a stream of another root, "
                         "max_depth, order or include_direct_reports"));
        return;
      }
      resume = *parsed;
      // The nodes skipped count against max_nodes as if sent again.
      if (query.max_nodes > 0) query.max_nodes += resume->nodes;
    }
    if (request.order() != v1::ORDER_UNSPECIFIED &&
        request.order() != v1::ORDER_DEPTH_FIRST &&
        request.order() != v1::ORDER_BREADTH_FIRST) {
      End(grpc::Status(
          grpc::StatusCode::INVALID_ARGUMENT,
          absl::StrCat("unknown order ", static_cast<int>(request.order()))));
      return;
    }
    const int max_streams = service_->options_.max_streams;
    {
      absl::MutexLock lock(&mu_);
      counted_ = true;
    }
    if (service_->active_streams_.fetch_add(1) >= max_streams) {
      End(grpc::Status(
          grpc::StatusCode::RESOURCE_EXHAUSTED,
          absl::StrCat("the server is already streaming ", max_streams,
                       " subtrees; retry with backoff")));
      return;
    }
    std::shared_ptr<const GateFacts> facts;
    auto snapshot = service_->OpenGated(&facts);
    if (!snapshot.ok()) {
      End(ToGrpcStatus(snapshot.status()));
      return;
    }
    for (int64_t id : departments_) {
      if (absl::Status s = (*snapshot)->DepartmentMustExist(id); !s.ok()) {
        End(ToGrpcStatus(s));
        return;
      }
    }
    auto reader = (*snapshot)->OpenSubtree(query);
    if (!reader.ok()) {
      End(ToGrpcStatus(reader.status()));
      return;
    }
    if (resume.has_value() && resume->snapshot != facts->snapshot_token) {
      End(grpc::Status(
          grpc::StatusCode::ABORTED,
          "the organisation changed since the cursor's snapshot: read the "
          "subtree again, or read it again and apply the change feed "
          "(WatchChanges) from that read's snapshot"));
      return;
    }
    if (resume.has_value()) {
      // The same snapshot state: the same nodes in the same order.
      auto skipped = (*reader)->NextViews(
          resume->nodes, [](const hierarchy::EmployeeView&) { return true; },
          [this] { return cancelled_.load(std::memory_order_relaxed); });
      if (!skipped.ok()) {
        End(ToGrpcStatus(skipped.status()));
        return;
      }
      skipped_ = resume->nodes;
    }
    {
      absl::MutexLock lock(&mu_);
      snapshot_ = *std::move(snapshot);
      reader_ = *std::move(reader);
      snapshot_taken_ = absl::Now();
    }
    facts_ = std::move(facts);
    cursor_.snapshot = facts_->snapshot_token;
    // The first chunk reads the revisions, which live with the snapshot's
    // connection: the reaper learns of the stream only after it.
    if (SendNext(service_->options_.first_chunk_nodes)) {
      service_->Register(this);
      registered_ = true;
    }
  }

  void Encode(const hierarchy::EmployeeView& e) {
    if (mask_.keeps_all()) {
      encoder_.Add(e);
    } else {
      hierarchy::EmployeeView masked = e;
      mask_.Apply(masked);
      encoder_.Add(masked);
    }
  }

  // A node read by a stream with department_ids: sent if in one of them,
  // after the managers above it not sent yet (pre-order keeps them on
  // path_). False once max_nodes is reached.
  bool Filter(const hierarchy::EmployeeView& e) {
    // path_[d]: the node read last at depth d (its buffers reused).
    path_.resize(static_cast<size_t>(e.depth) + 1);
    hierarchy::CopyView(e, &path_.back().first);
    path_.back().second = false;
    if (!e.department_id || departments_.count(*e.department_id) == 0) {
      return true;
    }
    for (auto& [manager, sent] : path_) {
      if (sent) continue;
      if (max_sent_ > 0 && sent_ + encoder_.nodes() >= max_sent_) {
        filter_truncated_ = true;
        return false;
      }
      manager.outside_filter = &manager != &path_.back().first;
      Encode(hierarchy::ViewOf(manager));
      sent = true;
    }
    return true;
  }

  std::string NextCursor() {
    if (cursor_.snapshot.empty() || !departments_.empty()) return "";
    cursor_.nodes = skipped_ + sent_;
    return FormatCursor(cursor_);
  }

  // Reads up to `limit` nodes into the chunk and sends it; with the last
  // one, the status. True while the stream goes on.
  bool SendNext(int limit) {
    absl::ReleasableMutexLock lock(&mu_);
    if (expired_) {
      lock.Release();
      End(grpc::Status(
          grpc::StatusCode::ABORTED,
          absl::StrCat(
              "the stream held its read snapshot longer than "
              "--max_snapshot_age (",
              absl::FormatDuration(service_->options_.max_snapshot_age),
              "), which holds back the database's checkpoints; "
              "read the rest with new requests (the subtrees of the "
              "last nodes received, or a smaller max_depth)")));
      return false;
    }
    absl::StatusOr<bool> more;
    do {
      more = reader_->NextViews(
          limit,
          [this](const hierarchy::EmployeeView& e) {
            if (!departments_.empty()) return Filter(e);
            Encode(e);
            return true;
          },
          [this] { return cancelled_.load(std::memory_order_relaxed); });
      // A filtered read goes on until it has something to send.
    } while (more.ok() && *more && encoder_.nodes() == 0);
    const int read = encoder_.nodes();
    sent_ += read;
    service_->nodes_read_.fetch_add(read, std::memory_order_relaxed);
    if (!more.ok()) {
      lock.Release();
      End(cancelled_ ? grpc::Status(grpc::StatusCode::CANCELLED,
                                    "the client went away")
                     : ToGrpcStatus(more.status()));
      return false;
    }
    // The first chunk carries the schema revisions (read while the
    // snapshot is held: the first chunk is always read before Release).
    const bool first = sent_ == read;
    static const std::vector<std::string> kNone;
    if (*more) {
      chunk_ =
          encoder_.Finish(false, first ? facts_->state->current : kNone,
                          first ? facts_->snapshot_token : "", NextCursor());
      lock.Release();
      StartWrite(&chunk_);
      return true;
    }
    const bool truncated = reader_->truncated() || filter_truncated_;
    const bool last_write = read > 0 || truncated;
    chunk_ = encoder_.Finish(truncated, first ? facts_->state->current : kNone,
                             first ? facts_->snapshot_token : "", NextCursor());
    lock.Release();
    Release();
    log_.set_items_sent(sent_);
    log_.Finish(grpc::Status::OK);
    if (last_write) {
      StartWriteAndFinish(&chunk_, grpc::WriteOptions(), grpc::Status::OK);
    } else {
      Finish(grpc::Status::OK);
    }
    return false;
  }

  void End(grpc::Status status) {
    Release();
    log_.set_items_sent(sent_);
    Finish(log_.Finish(std::move(status)));
  }

  // Ends the read transaction and returns the connection: nothing more is
  // read once the last status is decided. The stream stops counting
  // against max_streams here, not when gRPC is done with the call (which
  // may be later under load): the limit bounds open snapshots.
  void Release() {
    // First out of the reaper's sight (it may be looking at this stream).
    if (registered_) {
      registered_ = false;
      service_->Unregister(this);
    }
    absl::MutexLock lock(&mu_);
    DropSnapshot();
  }

  void DropSnapshot() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    reader_.reset();
    snapshot_.reset();
    if (counted_) {
      counted_ = false;
      --service_->active_streams_;
    }
  }

  OrgDataServiceImpl* const service_;
  RequestLog log_;
  std::atomic<bool> cancelled_{false};
  absl::Mutex mu_;
  bool counted_ ABSL_GUARDED_BY(mu_) = false;
  bool expired_ ABSL_GUARDED_BY(mu_) = false;
  std::unique_ptr<hierarchy::Snapshot> snapshot_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<hierarchy::SubtreeReader> reader_ ABSL_GUARDED_BY(mu_);
  absl::Time snapshot_taken_ ABSL_GUARDED_BY(mu_);
  // Touched by reactions only (one at a time).
  bool registered_ = false;
  // The snapshot's revision state (its revisions go in the first chunk).
  std::shared_ptr<const GateFacts> facts_;
  // This stream's position for next_cursor (no cursors without a change
  // log, whose token says whether anything changed); nodes a resumed
  // stream skipped.
  Cursor cursor_;
  int64_t skipped_ = 0;
  ChunkEncoder encoder_;
  // The request's read_mask.
  EmployeeMask mask_;
  // The request's department_ids, its max_nodes for them, and the nodes
  // from the root down to the last node read, each with whether it was
  // sent (guarded by mu_, as the reader is).
  absl::flat_hash_set<int64_t> departments_;
  int64_t max_sent_ = 0;
  bool filter_truncated_ = false;
  std::vector<std::pair<hierarchy::Employee, bool>> path_;
  // The chunk being written; gRPC reads it until the write is done.
  grpc::ByteBuffer chunk_;
  int64_t sent_ = 0;
};

// Counts one unary call against max_unary_calls while it lives.
namespace {

// Depth of the employee at `path` below `root` (0 for the whole
// organisation: below the top), or -1 when the path is not under it.
int DepthBelow(absl::string_view path, int64_t root) {
  const int components =
      static_cast<int>(path.size() / store::kPathComponentChars);
  if (root == 0) return components - 1;
  const std::string component = store::PathComponent(root);
  for (int i = 0; i < components; ++i) {
    if (path.substr(i * store::kPathComponentChars,
                    store::kPathComponentChars) == component) {
      return components - 1 - i;
    }
  }
  return -1;
}

// The manager id an employee's path names (the last id but one), or none.
std::optional<int64_t> ManagerInPath(absl::string_view path) {
  const int64_t id = store::ComponentId(path, 2);
  return id > 0 ? std::optional<int64_t>(id) : std::nullopt;
}

}  // namespace

// One WatchChanges call: a listener of the change feed that writes the
// changes after its position, filtered to its root's subtree, one batch
// at a time (the next when the previous is written), and a checkpoint
// when nothing has been sent for checkpoint_interval. Holds no thread and
// no snapshot between batches. Deletes itself when gRPC is done with it.
class OrgDataServiceImpl::ChangeWatch final
    : public grpc::ServerWriteReactor<v1::WatchChangesResponse>,
      public ChangeFeed::Listener {
 public:
  ChangeWatch(OrgDataServiceImpl* service, grpc::CallbackServerContext* context,
              const v1::WatchChangesRequest& request)
      : service_(service),
        log_("WatchChanges", *context),
        root_(request.root_id()) {
    absl::Status start = Start(request);
    {
      absl::MutexLock lock(&mu_);
      if (!start.ok()) {
        FinishLocked(ToGrpcStatus(start));
        return;
      }
      AddCheckpoint();
      WriteLocked();
    }
    // Not under mu_: the feed calls OnNews (which takes mu_) holding the
    // lock Subscribe takes.
    subscribed_ = true;
    service_->feed_.Subscribe(this);
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (!ok || cancelled_) {
      FinishLocked(
          grpc::Status(grpc::StatusCode::CANCELLED, "the client went away"));
      return;
    }
    PumpLocked();
  }

  void OnNews() override {
    absl::MutexLock lock(&mu_);
    PumpLocked();
  }

  void OnCancel() override {
    absl::MutexLock lock(&mu_);
    cancelled_ = true;
    if (!writing_) {
      FinishLocked(
          grpc::Status(grpc::StatusCode::CANCELLED, "the client went away"));
    }
  }

  void OnDone() override {
    if (subscribed_) service_->feed_.Unsubscribe(this);
    delete this;
  }

 private:
  // Checks the request and finds where to start, in a gated snapshot.
  absl::Status Start(const v1::WatchChangesRequest& request) {
    if (root_ < 0 || root_ > store::kMaxPathId) {
      return absl::InvalidArgumentError(absl::StrCat(
          "root_id must be 0 (everyone) or an employee id, not ", root_));
    }
    std::optional<store::ChangeToken> since;
    if (!request.since().empty()) {
      auto token = store::ParseToken(request.since());
      if (!token.ok()) return token.status();
      since = *token;
    }
    auto snapshot = service_->OpenGated(nullptr);
    if (!snapshot.ok()) return snapshot.status();
    auto state = store::ReadChangeLogState((*snapshot)->db());
    if (!state.ok()) return state.status();
    if (!state->has_value()) {
      return absl::FailedPreconditionError(
          "the database has no change log (revision 2f3de1905fff): run "
          "'pulse-schema upgrade head'");
    }
    const store::ChangeLogState& log = **state;
    epoch_ = log.epoch;
    position_ = log.last_seq;
    if (!since.has_value()) return absl::OkStatus();
    const char* kAfresh =
        ": read the subtree afresh and watch from that read's snapshot token";
    if (since->epoch != log.epoch || since->seq > log.last_seq) {
      return absl::OutOfRangeError(absl::StrCat(
          "the token is from another copy of the change log (the database "
          "was restored or replaced)",
          kAfresh));
    }
    if (since->seq < log.pruned_through) {
      return absl::OutOfRangeError(absl::StrCat(
          "the token is older than the change log keeps (it keeps the "
          "changes after ",
          log.pruned_through, ")", kAfresh));
    }
    position_ = since->seq;
    return absl::OkStatus();
  }

  v1::ChangeEvent* NewEvent(v1::ChangeKind kind, int64_t seq) {
    v1::ChangeEvent* e = response_.add_events();
    e->set_kind(kind);
    e->set_token(store::FormatToken({epoch_, seq}));
    return e;
  }
  v1::ChangeEvent* NewEvent(v1::ChangeKind kind, const store::ChangeRow& row) {
    v1::ChangeEvent* e = NewEvent(kind, row.seq);
    e->set_committed_at_ms(row.at_ms);
    e->set_commit(row.commit);
    return e;
  }

  void AddCheckpoint() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    NewEvent(v1::CHANGE_KIND_CHECKPOINT, position_);
  }

  void AddEmployee(v1::ChangeKind kind, const store::ChangeRow& row, int depth)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    v1::ChangeEvent* e = NewEvent(kind, row);
    if (kind == v1::CHANGE_KIND_EMPLOYEE_DELETED) {
      e->mutable_employee()->set_id(row.id);
      return;
    }
    hierarchy::Employee employee;
    employee.id = row.id;
    employee.manager_id = row.manager_id;
    employee.depth = depth;
    employee.full_name = row.full_name;
    employee.title = row.title;
    employee.email = row.email;
    employee.department_id = row.department_id;
    employee.hire_date = row.hire_date;
    employee.notes = row.notes;
    ToProto(employee, e->mutable_employee());
    if (kind == v1::CHANGE_KIND_EMPLOYEE_MOVED) {
      if (auto old = ManagerInPath(row.old_org_path)) {
        e->set_old_manager_id(*old);
      }
    }
  }

  // The event `row` makes for this watcher, if any.
  void Add(const store::ChangeRow& row) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    using store::ChangeKind;
    switch (row.kind) {
      case ChangeKind::kOrganisationReloaded:
        NewEvent(v1::CHANGE_KIND_ORGANISATION_RELOADED, row);
        return;
      case ChangeKind::kDepartmentAdded:
      case ChangeKind::kDepartmentUpdated:
      case ChangeKind::kDepartmentDeleted: {
        if (root_ != 0) return;
        v1::ChangeEvent* e =
            NewEvent(row.kind == ChangeKind::kDepartmentAdded
                         ? v1::CHANGE_KIND_DEPARTMENT_ADDED
                     : row.kind == ChangeKind::kDepartmentUpdated
                         ? v1::CHANGE_KIND_DEPARTMENT_UPDATED
                         : v1::CHANGE_KIND_DEPARTMENT_DELETED,
                     row);
        v1::Department* d = e->mutable_department();
        d->set_id(row.id);
        if (row.kind == ChangeKind::kDepartmentDeleted) return;
        d->set_name(row.name);
        if (row.parent_id) d->set_parent_id(*row.parent_id);
        if (row.head_employee_id)
          d->set_head_employee_id(*row.head_employee_id);
        return;
      }
      case ChangeKind::kEmployeeAdded:
      case ChangeKind::kEmployeeUpdated: {
        const int depth = DepthBelow(row.org_path, root_);
        if (depth < 0) return;
        AddEmployee(row.kind == ChangeKind::kEmployeeAdded
                        ? v1::CHANGE_KIND_EMPLOYEE_ADDED
                        : v1::CHANGE_KIND_EMPLOYEE_UPDATED,
                    row, depth);
        return;
      }
      case ChangeKind::kEmployeeDeleted:
        if (DepthBelow(row.old_org_path, root_) >= 0) {
          AddEmployee(v1::CHANGE_KIND_EMPLOYEE_DELETED, row, 0);
        }
        return;
      case ChangeKind::kEmployeeMoved: {
        const int was = DepthBelow(row.old_org_path, root_);
        const int is = DepthBelow(row.org_path, root_);
        if (was >= 0 && is >= 0) {
          // Someone above moved: the employee's own manager is the same.
          if (ManagerInPath(row.old_org_path) == row.manager_id) return;
          AddEmployee(v1::CHANGE_KIND_EMPLOYEE_MOVED, row, is);
        } else if (is >= 0) {
          AddEmployee(v1::CHANGE_KIND_EMPLOYEE_ADDED, row, is);
        } else if (was >= 0) {
          AddEmployee(v1::CHANGE_KIND_EMPLOYEE_DELETED, row, 0);
        }
        return;
      }
    }
  }

  // Writes what there is to write, unless a write is under way.
  void PumpLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (writing_ || finished_) return;
    response_.Clear();
    constexpr int kEventsPerMessage = 256;
    while (response_.events_size() < kEventsPerMessage) {
      auto batch = service_->feed_.After(epoch_, position_, kEventsPerMessage);
      if (!batch.ok()) {
        FinishLocked(ToGrpcStatus(batch.status()));
        return;
      }
      if (batch->rows.empty()) break;
      for (const auto& row : batch->rows) {
        position_ = row->seq;
        Add(*row);
        if (response_.events_size() >= kEventsPerMessage) break;
      }
    }
    if (response_.events_size() == 0) {
      if (absl::Now() - last_write_ <
          service_->feed_.options().checkpoint_interval) {
        return;
      }
      AddCheckpoint();
    }
    WriteLocked();
  }

  void WriteLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    writing_ = true;
    last_write_ = absl::Now();
    events_sent_ += response_.events_size();
    log_.set_items_sent(events_sent_);
    StartWrite(&response_);
  }

  void FinishLocked(const grpc::Status& status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_) return;
    finished_ = true;
    Finish(log_.Finish(status));
  }

  OrgDataServiceImpl* service_;
  RequestLog log_;
  const int64_t root_;
  absl::Mutex mu_;
  uint64_t epoch_ = 0;
  // The last seq of the log this watcher has dealt with.
  int64_t position_ ABSL_GUARDED_BY(mu_) = 0;
  v1::WatchChangesResponse response_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool subscribed_ = false;
  absl::Time last_write_ ABSL_GUARDED_BY(mu_);
  int64_t events_sent_ ABSL_GUARDED_BY(mu_) = 0;
};

grpc::ServerWriteReactor<v1::WatchChangesResponse>*
OrgDataServiceImpl::WatchChanges(grpc::CallbackServerContext* context,
                                 const v1::WatchChangesRequest* request) {
  return new ChangeWatch(this, context, *request);
}

class OrgDataServiceImpl::UnarySlot {
 public:
  explicit UnarySlot(std::atomic<int>* calls) : calls_(calls) {}
  ~UnarySlot() { --*calls_; }
  UnarySlot(const UnarySlot&) = delete;
  UnarySlot& operator=(const UnarySlot&) = delete;

 private:
  std::atomic<int>* calls_;
};

grpc::Status OrgDataServiceImpl::TakeUnarySlot(
    std::unique_ptr<UnarySlot>* slot) {
  const int limit = options_.max_unary_calls;
  if (unary_calls_.fetch_add(1) >= limit) {
    --unary_calls_;
    return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                        absl::StrCat("the server is already answering ", limit,
                                     " calls; retry with backoff"));
  }
  *slot = std::make_unique<UnarySlot>(&unary_calls_);
  return grpc::Status::OK;
}

grpc::Status OrgDataServiceImpl::AdmitWrite(const grpc::ServerContext& context,
                                            std::unique_ptr<UnarySlot>* slot) {
  if (grpc::Status busy = TakeUnarySlot(slot); !busy.ok()) return busy;
  return ToGrpcStatus(CheckAdminToken(context, options_.admin_token));
}

void OrgDataServiceImpl::Register(SubtreeStream* stream) {
  absl::MutexLock lock(&streams_mu_);
  open_streams_.insert(stream);
}

void OrgDataServiceImpl::Unregister(SubtreeStream* stream) {
  absl::MutexLock lock(&streams_mu_);
  open_streams_.erase(stream);
}

void OrgDataServiceImpl::ReapOldSnapshots() {
  const absl::Time cutoff = absl::Now() - options_.max_snapshot_age;
  absl::MutexLock lock(&streams_mu_);
  for (auto it = open_streams_.begin(); it != open_streams_.end();) {
    if ((*it)->ExpireIfBefore(cutoff)) {
      ++expired_streams_;
      open_streams_.erase(it++);
    } else {
      ++it;
    }
  }
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* OrgDataServiceImpl::StreamSubtree(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request) {
  v1::StreamSubtreeRequest parsed;
  grpc::ByteBuffer bytes(*request);
  grpc::ProtoBufferReader reader(&bytes);
  const bool ok = parsed.ParseFromZeroCopyStream(&reader);
  return new SubtreeStream(this, context, ok ? &parsed : nullptr);
}

grpc::Status OrgDataServiceImpl::GetEmployee(
    grpc::ServerContext* context, const v1::GetEmployeeRequest* request,
    v1::Employee* response) {
  RequestLog log("GetEmployee", *context);
  std::unique_ptr<UnarySlot> slot;
  if (grpc::Status busy = TakeUnarySlot(&slot); !busy.ok()) {
    return log.Finish(busy);
  }
  if (request->id() <= 0) return log.Finish(InvalidId("id", request->id()));
  auto mask = EmployeeMask::FromReadMask(request->read_mask(),
                                         /*keep_manager=*/false);
  if (!mask.ok()) return log.Finish(ToGrpcStatus(mask.status()));
  std::shared_ptr<const GateFacts> facts;
  auto snapshot = OpenGated(&facts);
  if (!snapshot.ok()) return log.Finish(ToGrpcStatus(snapshot.status()));
  auto employee = (*snapshot)->GetEmployee(request->id());
  if (!employee.ok()) return log.Finish(ToGrpcStatus(employee.status()));
  if (!facts->snapshot_token.empty()) {
    context->AddInitialMetadata("pulse-snapshot", facts->snapshot_token);
  }
  ToProto(*employee, response);
  mask->Apply(*response);
  return log.Finish(grpc::Status::OK);
}

grpc::Status OrgDataServiceImpl::ListChainOfCommand(
    grpc::ServerContext* context, const v1::ListChainOfCommandRequest* request,
    v1::ListChainOfCommandResponse* response) {
  RequestLog log("ListChainOfCommand", *context);
  std::unique_ptr<UnarySlot> slot;
  if (grpc::Status busy = TakeUnarySlot(&slot); !busy.ok()) {
    return log.Finish(busy);
  }
  if (request->id() <= 0) return log.Finish(InvalidId("id", request->id()));
  std::shared_ptr<const GateFacts> facts;
  auto snapshot = OpenGated(&facts);
  if (!snapshot.ok()) return log.Finish(ToGrpcStatus(snapshot.status()));
  auto employee = (*snapshot)->GetEmployee(request->id());
  if (!employee.ok()) return log.Finish(ToGrpcStatus(employee.status()));
  response->set_snapshot(facts->snapshot_token);
  auto chain = (*snapshot)->ChainOfCommand(request->id());
  if (!chain.ok()) return log.Finish(ToGrpcStatus(chain.status()));
  ToProto(*employee, response->mutable_employee());
  for (hierarchy::Employee& m : *chain) ToProto(m, response->add_managers());
  log.set_items_sent(response->managers_size() + 1);
  return log.Finish(grpc::Status::OK);
}

grpc::Status OrgDataServiceImpl::GetSubtreeSummary(
    grpc::ServerContext* context, const v1::GetSubtreeSummaryRequest* request,
    v1::SubtreeSummary* response) {
  RequestLog log("GetSubtreeSummary", *context);
  std::unique_ptr<UnarySlot> slot;
  if (grpc::Status busy = TakeUnarySlot(&slot); !busy.ok()) {
    return log.Finish(busy);
  }
  hierarchy::SubtreeRequest query;
  query.root_id = request->root_id();
  query.max_depth = request->max_depth();
  if (absl::Status s = hierarchy::ValidateSubtreeRequest(query); !s.ok()) {
    return log.Finish(ToGrpcStatus(s));
  }
  auto snapshot = OpenGated(nullptr);
  if (!snapshot.ok()) return log.Finish(ToGrpcStatus(snapshot.status()));
  auto summary =
      (*snapshot)->Summarize(query.root_id, query.max_depth,
                             [context] { return context->IsCancelled(); });
  if (!summary.ok()) return log.Finish(ToGrpcStatus(summary.status()));
  response->set_headcount(summary->headcount);
  response->set_depth(summary->depth);
  response->set_widest_span(summary->widest_span);
  response->set_widest_span_manager_id(summary->widest_span_manager_id);
  return log.Finish(grpc::Status::OK);
}

namespace {

constexpr int kDefaultPageSize = 50;
constexpr int kMaxPageSize = 1000;

// A page of direct reports ends at a report: "r1/<manager>/<id>/<name>",
// web-safe base64, so that it reads as the opaque token it is.
std::string FormatReportsToken(int64_t manager,
                               const hierarchy::ReportsPosition& at) {
  return absl::WebSafeBase64Escape(
      absl::StrCat("r1/", manager, "/", at.id, "/", at.full_name));
}

absl::StatusOr<hierarchy::ReportsPosition> ParseReportsToken(
    absl::string_view token, int64_t manager) {
  std::string text;
  std::vector<absl::string_view> parts;
  if (absl::WebSafeBase64Unescape(token, &text)) {
    parts = absl::StrSplit(text, absl::MaxSplits('/', 3));
  }
  hierarchy::ReportsPosition at;
  int64_t made_for = 0;
  if (parts.size() != 4 || parts[0] != "r1" ||
      !absl::SimpleAtoi(parts[1], &made_for) ||
      !absl::SimpleAtoi(parts[2], &at.id)) {
    return absl::InvalidArgumentError(
        "page_token is not a token ListDirectReports gave (pass "
        "next_page_token as it came)");
  }
  if (made_for != manager) {
    return absl::InvalidArgumentError(
        absl::StrCat("page_token was made for the reports of employee ",
                     made_for, ", not ", manager));
  }
  at.full_name = std::string(parts[3]);
  return at;
}

// A page of search results ends at a hit: "s1/<tier>/<id>/<department or
// ->/<manager or ->/<query>", web-safe base64. The filters and query are
// in it so that a token is refused for another search.
std::string SearchFilters(const v1::SearchEmployeesRequest& r) {
  return absl::StrCat(
      r.has_department_id() ? absl::StrCat(r.department_id()) : "-", "/",
      r.has_manager_id() ? absl::StrCat(r.manager_id()) : "-", "/", r.query());
}

std::string FormatSearchToken(const v1::SearchEmployeesRequest& r,
                              const hierarchy::SearchRequest::Position& at) {
  return absl::WebSafeBase64Escape(
      absl::StrCat("s1/", at.tier, "/", at.id, "/", SearchFilters(r)));
}

absl::StatusOr<hierarchy::SearchRequest::Position> ParseSearchToken(
    const v1::SearchEmployeesRequest& r) {
  std::string text;
  std::vector<absl::string_view> parts;
  if (absl::WebSafeBase64Unescape(r.page_token(), &text)) {
    parts = absl::StrSplit(text, absl::MaxSplits('/', 3));
  }
  hierarchy::SearchRequest::Position at;
  if (parts.size() != 4 || parts[0] != "s1" ||
      !absl::SimpleAtoi(parts[1], &at.tier) || at.tier < 0 || at.tier > 1 ||
      !absl::SimpleAtoi(parts[2], &at.id)) {
    return absl::InvalidArgumentError(
        "page_token is not a token SearchEmployees gave (pass "
        "next_page_token as it came)");
  }
  if (parts[3] != SearchFilters(r)) {
    return absl::InvalidArgumentError(
        "page_token was made for another search: send the same query, "
        "department_id and manager_id as the first page");
  }
  return at;
}

// page_size as List* calls take it: 0 for the default, at most the maximum.
absl::StatusOr<int> PageSize(int32_t requested) {
  if (requested < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("page_size must be 0 (the default, ", kDefaultPageSize,
                     ") or positive, not ", requested));
  }
  return requested == 0 ? kDefaultPageSize : std::min(requested, kMaxPageSize);
}

void ToProto(const hierarchy::Department& d, v1::Department* out) {
  out->set_id(d.id);
  out->set_name(d.name);
  if (d.parent_id) out->set_parent_id(*d.parent_id);
  if (d.head_employee_id) out->set_head_employee_id(*d.head_employee_id);
  out->set_head_employee_name(d.head_employee_name);
  out->set_direct_headcount(d.direct_headcount);
  out->set_total_headcount(d.total_headcount);
  out->set_depth(d.depth);
}

}  // namespace

grpc::Status OrgDataServiceImpl::ListDirectReports(
    grpc::ServerContext* context, const v1::ListDirectReportsRequest* request,
    v1::ListDirectReportsResponse* response) {
  RequestLog log("ListDirectReports", *context);
  std::unique_ptr<UnarySlot> slot;
  if (grpc::Status busy = TakeUnarySlot(&slot); !busy.ok()) {
    return log.Finish(busy);
  }
  if (request->id() <= 0) return log.Finish(InvalidId("id", request->id()));
  auto page_size = PageSize(request->page_size());
  if (!page_size.ok()) return log.Finish(ToGrpcStatus(page_size.status()));
  auto mask = EmployeeMask::FromReadMask(request->read_mask(),
                                         /*keep_manager=*/false);
  if (!mask.ok()) return log.Finish(ToGrpcStatus(mask.status()));
  std::optional<hierarchy::ReportsPosition> after;
  if (!request->page_token().empty()) {
    auto parsed = ParseReportsToken(request->page_token(), request->id());
    if (!parsed.ok()) return log.Finish(ToGrpcStatus(parsed.status()));
    after = *std::move(parsed);
  }
  auto snapshot = OpenGated(nullptr);
  if (!snapshot.ok()) return log.Finish(ToGrpcStatus(snapshot.status()));
  // One more than the page: whether another page follows.
  auto reports =
      (*snapshot)->DirectReports(request->id(), *page_size + 1, after);
  if (!reports.ok()) return log.Finish(ToGrpcStatus(reports.status()));
  const bool more = static_cast<int>(reports->size()) > *page_size;
  if (more) reports->pop_back();
  for (const hierarchy::Employee& e : *reports) {
    v1::Employee* out = response->add_reports();
    ToProto(e, out);
    mask->Apply(*out);
  }
  if (more) {
    const hierarchy::ReportsPosition last{reports->back().full_name,
                                          reports->back().id};
    response->set_next_page_token(FormatReportsToken(request->id(), last));
  }
  log.set_items_sent(response->reports_size());
  return log.Finish(grpc::Status::OK);
}

grpc::Status OrgDataServiceImpl::SearchEmployees(
    grpc::ServerContext* context, const v1::SearchEmployeesRequest* request,
    v1::SearchEmployeesResponse* response) {
  RequestLog log("SearchEmployees", *context);
  std::unique_ptr<UnarySlot> slot;
  if (grpc::Status busy = TakeUnarySlot(&slot); !busy.ok()) {
    return log.Finish(busy);
  }
  auto page_size = PageSize(request->page_size());
  if (!page_size.ok()) return log.Finish(ToGrpcStatus(page_size.status()));
  auto mask = EmployeeMask::FromReadMask(request->read_mask(),
                                         /*keep_manager=*/false);
  if (!mask.ok()) return log.Finish(ToGrpcStatus(mask.status()));
  hierarchy::SearchRequest search;
  search.query = request->query();
  if (request->has_department_id()) {
    search.department_id = request->department_id();
  }
  if (request->has_manager_id()) {
    if (request->manager_id() <= 0) {
      return log.Finish(InvalidId("manager_id", request->manager_id()));
    }
    search.manager_id = request->manager_id();
  }
  // One more than the page: whether another page follows.
  search.limit = *page_size + 1;
  if (!request->page_token().empty()) {
    auto at = ParseSearchToken(*request);
    if (!at.ok()) return log.Finish(ToGrpcStatus(at.status()));
    search.after = *at;
  }
  auto snapshot = OpenGated(nullptr);
  if (!snapshot.ok()) return log.Finish(ToGrpcStatus(snapshot.status()));
  auto hits = (*snapshot)->Search(search);
  if (!hits.ok()) return log.Finish(ToGrpcStatus(hits.status()));
  const bool more = static_cast<int>(hits->size()) > *page_size;
  if (more) hits->pop_back();
  for (const hierarchy::SearchHit& hit : *hits) {
    v1::Employee* out = response->add_employees();
    ToProto(hit.employee, out);
    mask->Apply(*out);
  }
  if (more) {
    response->set_next_page_token(
        FormatSearchToken(*request, hits->back().position));
  }
  log.set_items_sent(response->employees_size());
  return log.Finish(grpc::Status::OK);
}

grpc::Status OrgDataServiceImpl::ListDepartments(
    grpc::ServerContext* context, const v1::ListDepartmentsRequest* /*request*/,
    v1::ListDepartmentsResponse* response) {
  RequestLog log("ListDepartments", *context);
  std::unique_ptr<UnarySlot> slot;
  if (grpc::Status busy = TakeUnarySlot(&slot); !busy.ok()) {
    return log.Finish(busy);
  }
  auto snapshot = OpenGated(nullptr);
  if (!snapshot.ok()) return log.Finish(ToGrpcStatus(snapshot.status()));
  auto departments = (*snapshot)->Departments();
  if (!departments.ok()) return log.Finish(ToGrpcStatus(departments.status()));
  for (const hierarchy::Department& d : *departments) {
    ToProto(d, response->add_departments());
  }
  log.set_items_sent(response->departments_size());
  return log.Finish(grpc::Status::OK);
}

grpc::Status OrgDataServiceImpl::GetDepartment(
    grpc::ServerContext* context, const v1::GetDepartmentRequest* request,
    v1::Department* response) {
  RequestLog log("GetDepartment", *context);
  std::unique_ptr<UnarySlot> slot;
  if (grpc::Status busy = TakeUnarySlot(&slot); !busy.ok()) {
    return log.Finish(busy);
  }
  if (request->id() <= 0) {
    return log.Finish(
        grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                     absl::StrCat("id must be a positive department id, not ",
                                  request->id())));
  }
  auto snapshot = OpenGated(nullptr);
  if (!snapshot.ok()) return log.Finish(ToGrpcStatus(snapshot.status()));
  // The whole tree: a total counts every department below, and the depth
  // every one above (departments are few).
  auto departments = (*snapshot)->Departments();
  if (!departments.ok()) return log.Finish(ToGrpcStatus(departments.status()));
  for (const hierarchy::Department& d : *departments) {
    if (d.id == request->id()) {
      ToProto(d, response);
      return log.Finish(grpc::Status::OK);
    }
  }
  return log.Finish(
      grpc::Status(grpc::StatusCode::NOT_FOUND,
                   absl::StrCat("no department with id ", request->id())));
}

grpc::Status OrgDataServiceImpl::ApplyChanges(
    grpc::ServerContext* context, const v1::ApplyChangesRequest* request,
    v1::ApplyChangesResponse* response) {
  RequestLog log("ApplyChanges", *context);
  std::unique_ptr<UnarySlot> slot;
  if (grpc::Status refused = AdmitWrite(*context, &slot); !refused.ok()) {
    return log.Finish(refused);
  }
  std::vector<write::Change> changes;
  changes.reserve(request->changes_size());
  for (int i = 0; i < request->changes_size(); ++i) {
    auto change = FromProto(request->changes(i), i);
    if (!change.ok()) return log.Finish(ToGrpcStatus(change.status()));
    changes.push_back(*std::move(change));
  }
  auto summary = writer_->ApplyChanges(changes, request->validate_only());
  if (!summary.ok()) return log.Finish(ToGrpcStatus(summary.status()));
  if (!request->validate_only()) feed_.Poke();
  ToProto(*summary, response->mutable_summary());
  response->set_validated_only(request->validate_only());
  log.set_items_sent(request->changes_size());
  return log.Finish(grpc::Status::OK);
}

grpc::Status OrgDataServiceImpl::Import(
    grpc::ServerContext* context, grpc::ServerReader<v1::ImportRequest>* reader,
    v1::ImportResponse* response) {
  RequestLog log("Import", *context);
  std::unique_ptr<UnarySlot> slot;
  if (grpc::Status refused = AdmitWrite(*context, &slot); !refused.ok()) {
    return log.Finish(refused);
  }
  v1::ImportRequest piece;
  if (!reader->Read(&piece)) {
    return log.Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                   "the import sent no message"));
  }
  write::ImportOptions options;
  options.mode = piece.mode() == v1::IMPORT_MODE_REPLACE
                     ? write::ImportMode::kReplace
                     : write::ImportMode::kMerge;
  options.dry_run = piece.dry_run();
  options.source = piece.source().empty() ? "row" : piece.source();
  options.precondition = writer_->Precondition();
  // The error list travels in the status: it fits clients' trailers.
  options.max_error_bytes = 3000;
  auto db = writer_->OpenImportConnection();
  if (!db.ok()) return log.Finish(ToGrpcStatus(db.status()));
  auto importer = write::Importer::Begin(**db, options);
  if (!importer.ok()) return log.Finish(ToGrpcStatus(importer.status()));
  int64_t rows = 0, departments = 0;
  do {
    for (const v1::ImportDepartmentRow& d : piece.departments()) {
      write::DepartmentRow row;
      row.line = d.line() > 0 ? d.line() : ++departments;
      row.name = d.name();
      row.parent = d.parent();
      if (d.has_head_employee_id()) row.head_employee_id = d.head_employee_id();
      if (row.name.empty()) {
        (*importer)->AddError({row.line, "name", "missing"});
        continue;
      }
      if (absl::Status s = (*importer)->AddDepartment(row); !s.ok()) {
        return log.Finish(ToGrpcStatus(s));
      }
    }
    for (const v1::ImportRow& r : piece.rows()) {
      write::EmployeeRow row;
      row.line = r.line() > 0 ? r.line() : rows + 1;
      ++rows;
      row.id = r.id();
      if (r.has_manager_id()) row.manager_id = r.manager_id();
      row.full_name = r.full_name();
      row.title = r.title();
      row.email = r.email();
      row.department = r.department();
      row.hire_date = r.hire_date();
      if (r.has_notes() && !r.notes().empty()) row.notes = r.notes();
      std::vector<write::RowError> errors;
      write::CheckEmployee(row, &errors);
      if (!errors.empty()) {
        for (write::RowError& e : errors) (*importer)->AddError(std::move(e));
        if (row.id > 0) (*importer)->AddRejected(row.id, row.line);
        continue;
      }
      if (absl::Status s = (*importer)->AddEmployee(row); !s.ok()) {
        return log.Finish(ToGrpcStatus(s));
      }
    }
    if (context->IsCancelled()) {
      return log.Finish(grpc::Status(grpc::StatusCode::CANCELLED,
                                     "the client went away; nothing changed"));
    }
  } while (reader->Read(&piece));
  auto summary = writer_->FinishImport(**importer);
  if (!summary.ok()) return log.Finish(ToGrpcStatus(summary.status()));
  if (!options.dry_run) feed_.Poke();
  ToProto(*summary, response->mutable_summary());
  response->set_dry_run(options.dry_run);
  log.set_items_sent(rows);
  return log.Finish(grpc::Status::OK);
}

}  // namespace pulse::orgdata
