#ifndef PULSE_LIBS_HIERARCHY_HIERARCHY_H_
#define PULSE_LIBS_HIERARCHY_HIERARCHY_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "libs/store/pool.h"

namespace pulse::hierarchy {

struct Employee {
  int64_t id = 0;
  std::optional<int64_t> manager_id;
  // Levels below the requested root (0 for the root itself); 0 elsewhere.
  int32_t depth = 0;
  std::string full_name;
  std::string title;
  std::string email;
  std::optional<int64_t> department_id;
  std::string hire_date;
  // Set only when the schema has employees.notes and the value is not NULL.
  std::optional<std::string> notes;
  // Set only when asked for (SubtreeRequest::with_direct_reports).
  std::optional<int64_t> direct_reports;
  // A manager sent only to connect a filtered subtree (set by the service).
  bool outside_filter = false;
};

enum class Order {
  // A parent before its children, each child's subtree before the next
  // sibling; siblings by ascending id.
  kDepthFirst,
  // Level by level; within a level, children grouped by parent.
  kBreadthFirst,
};

struct SubtreeRequest {
  int64_t root_id = 0;
  // Levels below the root to include; 0 means unlimited.
  int32_t max_depth = 0;
  Order order = Order::kDepthFirst;
  // Most nodes to return; 0 means unlimited.
  int64_t max_nodes = 0;
  // Count each node's direct reports.
  bool with_direct_reports = false;
};

struct Summary {
  int64_t headcount = 0;  // Including the root.
  int32_t depth = 0;      // Deepest level below the root.
  int64_t widest_span = 0;
  int64_t widest_span_manager_id = 0;
};

// INVALID_ARGUMENT unless root_id > 0, max_depth >= 0 and max_nodes >= 0.
absl::Status ValidateSubtreeRequest(const SubtreeRequest& request);

// Called often while a read runs; returning true stops it with CANCELLED.
using CancelFn = std::function<bool()>;
// Receives each node in order (it may move the strings out, though the
// reader reuses their buffers for the next row if left); returning
// false stops the read (OK status).
using NodeSink = std::function<bool(Employee&)>;

// A node as read, with no copy of its strings: they point into SQLite's
// buffers and are valid only until the reader reads on. For sinks that
// copy the node out at once, as the service's chunk encoder does.
struct EmployeeView {
  int64_t id = 0;
  std::optional<int64_t> manager_id;
  int32_t depth = 0;
  absl::string_view full_name;
  absl::string_view title;
  absl::string_view email;
  std::optional<int64_t> department_id;
  absl::string_view hire_date;
  std::optional<absl::string_view> notes;
  std::optional<int64_t> direct_reports;
  bool outside_filter = false;
};
// As NodeSink, for views.
using ViewSink = std::function<bool(const EmployeeView&)>;
// Copies the node `v` views into `*e`, reusing the buffers of its strings.
void CopyView(const EmployeeView& v, Employee* e);
// A view of `e`, valid while `e` is unchanged.
EmployeeView ViewOf(const Employee& e);

class Snapshot;
// An employee's path as a slice of a text holding several (for
// CheckedPaths).
struct PathSlice {
  int64_t id;
  uint32_t offset;
  uint32_t length;
};

// Paths of employees whose managers up to the top were found to match
// them, for one value of the database's path generation token (table
// org_path_generation, revision 9b4e2d7c5a13: replaced whenever an
// existing path changes, not when someone is hired). Owned by whoever
// serves reads and given to each Snapshot, so that a path checked on one
// connection serves reads on all while no path changes. A read rooted at a
// known employee reads no row above its range, and the range's first row
// must still be the root (SubtreeReader::Step). Holds one generation at a
// time. Thread-safe.
class CheckedPaths {
 public:
  // Copies the path of `id` checked in `generation` to `*path`; false if
  // there is none.
  bool Find(int64_t generation, int64_t id, std::string* path) const;
  // Whether `id` was checked in `generation` with the path `path`.
  bool Has(int64_t generation, int64_t id, absl::string_view path) const;
  // Adds the paths in `text` that `entries` point to, checked in
  // `generation`. A read that has just begun adopts its generation
  // (`adopt`), forgetting the paths of another; a read that began before
  // the generation held was adopted adds nothing.
  void Add(int64_t generation, bool adopt,
           const std::vector<PathSlice>& entries, absl::string_view text);
  // Forgets every path (another database file is now read).
  void Clear();

 private:
  // The path of `id` checked in `generation`, viewing text_.
  std::optional<absl::string_view> Lookup(int64_t generation, int64_t id) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  std::optional<int64_t> generation_ ABSL_GUARDED_BY(mu_);
  // id -> (offset, length) of its path in text_.
  absl::flat_hash_map<int64_t, std::pair<uint32_t, uint32_t>> paths_
      ABSL_GUARDED_BY(mu_);
  std::string text_ ABSL_GUARDED_BY(mu_);
};

// A subtree read in progress, resumed chunk by chunk: one statement
// stepping through the subtree index (or the recursive walk) on the
// snapshot's connection. Made by Snapshot::OpenSubtree; it must not outlive
// the snapshot, and the snapshot runs no other read while it is open. Not
// thread-safe.
class SubtreeReader {
 public:
  ~SubtreeReader();
  SubtreeReader(const SubtreeReader&) = delete;
  SubtreeReader& operator=(const SubtreeReader&) = delete;

  // Reads up to `max_nodes` more nodes (in order) into `sink`. True while
  // more may follow; false once the read is complete (also when `sink`
  // returned false). Errors as Snapshot::StreamSubtree; after an error or
  // false, do not call again.
  absl::StatusOr<bool> Next(int64_t max_nodes, const NodeSink& sink,
                            const CancelFn& cancelled);
  // The same, each node as a view (no copy of its strings).
  absl::StatusOr<bool> NextViews(int64_t max_nodes, const ViewSink& sink,
                                 const CancelFn& cancelled);
  // Whether max_nodes cut the read short (known once Next returned false).
  bool truncated() const { return truncated_; }

 private:
  friend class Snapshot;
  SubtreeReader(Snapshot* snapshot, SubtreeRequest request, bool with_fields,
                bool with_notes, bool by_path)
      : snapshot_(snapshot),
        request_(request),
        with_fields_(with_fields),
        with_notes_(with_notes),
        by_path_(by_path) {}
  // Steps once; the next row in order into `e`, skipping the index rows
  // below max_depth. False at the end; SQLite's errors mapped (CANCELLED
  // for an interrupt).
  absl::StatusOr<bool> Step(EmployeeView& e);
  // Whether the index row `path` of `e` (below the root) is where its
  // manager link puts it: its path is its manager's plus its own id, and
  // its manager is the row read last one level up.
  bool FollowsItsParent(absl::string_view path, const EmployeeView& e) const;
  // Hands the managers met since the last call to the pool's checked paths.
  void ShareLearned();

  Snapshot* snapshot_;
  const SubtreeRequest request_;
  const bool with_fields_;
  const bool with_notes_;
  // Reading a range of employees_org_path rather than the recursive walk.
  const bool by_path_;
  std::string root_path_;
  // The range's end; its start moves past each skipped deeper subtree.
  std::string path_end_;
  std::string skip_from_;
  sqlite3_stmt* statement_ = nullptr;
  // The row being read, as a view, and copied for Next's sinks (its
  // strings' buffers serve every row).
  EmployeeView view_;
  Employee row_;
  int64_t sent_ = 0;
  bool truncated_ = false;
  // Whether the root's own row has been read (first, in an index range).
  bool root_seen_ = false;
  // The index row read last (not one skipped below max_depth).
  std::string last_path_;
  int64_t last_id_ = 0;
  int32_t last_depth_ = 0;
  // Managers met in the range (rows followed by one of their reports),
  // whose paths the reads above checked, until ShareLearned: their ids and
  // where their paths lie in learned_paths_. Only when the root itself
  // was not checked yet in this generation: once the table holds what
  // the reads meet, reads rooted at what it holds add nothing, and so look
  // nothing up to learn (a root met above or in other reads, but not yet
  // as a root, leaves its range to the reads that miss).
  CheckedPaths* checked_ = nullptr;
  std::vector<PathSlice> learned_;
  std::string learned_paths_;
};

// Where a page of direct reports ends: the last report's name and id.
struct ReportsPosition {
  std::string full_name;
  int64_t id = 0;
};

// A search of employees by words (Snapshot::Search).
struct SearchRequest {
  // Words, each matched as a case-insensitive prefix of a word of the
  // name or title, or of the email; every word must match.
  std::string query;
  // Only this department's employees.
  std::optional<int64_t> department_id;
  // Only this employee's subtree (them included).
  std::optional<int64_t> manager_id;
  // Most results.
  int limit = 50;
  // Continue after this result (none: from the first).
  struct Position {
    // 0: full name equal to the query; 1: the other matches.
    int tier = 0;
    int64_t id = 0;
  };
  std::optional<Position> after;
};
struct SearchHit {
  Employee employee;
  SearchRequest::Position position;
};

// A department with its head and headcounts (Snapshot::Departments).
struct Department {
  int64_t id = 0;
  std::string name;
  std::optional<int64_t> parent_id;
  std::optional<int64_t> head_employee_id;
  // "" without a head.
  std::string head_employee_name;
  // Employees in the department; in it and every department below it.
  int64_t direct_headcount = 0;
  int64_t total_headcount = 0;
  // Levels below the top of the department tree.
  int32_t depth = 0;
};

// Which optional parts of the schema a snapshot has.
struct SchemaFacts {
  // employees.notes.
  bool has_notes = false;
  // The subtree index, employees.org_path (revision 3c9e1f7a2b50).
  bool has_path = false;
  // The path generation token, org_path_generation (9b4e2d7c5a13).
  bool has_generation = false;
  // The search index, employee_search (bdc1691daa1a).
  bool has_search = false;
};

// What reads share across connections and calls, owned by whoever serves
// them (the org-data service) and given to each Snapshot.
struct ReadCaches {
  // The subtree paths checked while no path changes.
  CheckedPaths checked_paths;
  // Each connection's SchemaFacts while nothing commits (reading them
  // takes three queries).
  store::ConnectionMemo<SchemaFacts> schema_facts;
  // After the database file was replaced.
  void Clear() {
    checked_paths.Clear();
    schema_facts.Clear();
  }
};

// One read transaction on a pooled connection: every read through it sees
// the same snapshot of the database, including its revision state. Not
// thread-safe; one per request.
class Snapshot {
 public:
  // Begins the transaction and its read snapshot. Errors of SQLite
  // (mapped).
  // With `caches` (may be null; must outlive the snapshot), reads rooted
  // at an employee checked before, while no path changed, read nothing
  // above their root, and the schema's facts are read once per connection
  // while nothing commits.
  static absl::StatusOr<std::unique_ptr<Snapshot>> Begin(
      store::ConnectionPool::Lease lease, ReadCaches* caches = nullptr);
  ~Snapshot();
  Snapshot(const Snapshot&) = delete;
  Snapshot& operator=(const Snapshot&) = delete;

  // The connection, for reads that must share the snapshot (the gate).
  store::Database& db() { return (*lease_).db(); }
  store::Connection& connection() { return *lease_; }
  // The snapshot's PRAGMA data_version, the key for facts kept for the
  // connection (store::ConnectionMemo).
  int64_t data_version() const { return data_version_; }
  // Whether employees.notes exists in this snapshot's schema.
  absl::StatusOr<bool> HasNotes();
  // Whether the subtree index (employees.org_path, revision 3c9e1f7a2b50)
  // exists in this snapshot's schema.
  absl::StatusOr<bool> HasPathIndex();

  // NOT_FOUND when there is no such employee.
  absl::StatusOr<Employee> GetEmployee(int64_t id);
  // The employee's managers from the direct one up to the top, nearest
  // first. NOT_FOUND for an unknown id; DATA_LOSS for a manager cycle.
  absl::StatusOr<std::vector<Employee>> ChainOfCommand(int64_t id);
  // The subtree under request.root_id as a reader to pull nodes from in
  // chunks. INVALID_ARGUMENT for a bad request, NOT_FOUND for an unknown
  // root and DATA_LOSS for an inconsistent index above the root (all of
  // which may also come from the reader's first Next instead); Next gives
  // DATA_LOSS for a row of the range not where its manager link puts it.
  absl::StatusOr<std::unique_ptr<SubtreeReader>> OpenSubtree(
      const SubtreeRequest& request);
  // Streams the subtree under request.root_id to `sink`, never holding more
  // than the traversal frontier in memory. NOT_FOUND for an unknown root;
  // DATA_LOSS when the manager links loop back to the root (a cycle);
  // CANCELLED when `cancelled` says so. `*truncated` is set when max_nodes
  // stopped the read early.
  absl::Status StreamSubtree(const SubtreeRequest& request,
                             const NodeSink& sink, const CancelFn& cancelled,
                             bool* truncated);
  // Up to `limit` direct reports of `manager_id` after `after` (none: from
  // the first), ordered by full name then id, each with direct_reports and
  // depth 1. NOT_FOUND for an unknown manager.
  absl::StatusOr<std::vector<Employee>> DirectReports(
      int64_t manager_id, int limit,
      const std::optional<ReportsPosition>& after);
  // Employees matching `request`: those whose full name equals the query
  // (ignoring ASCII case) first, then the rest, each group by id.
  // INVALID_ARGUMENT for a query without words; NOT_FOUND for an unknown
  // department or manager; FAILED_PRECONDITION on a schema without the
  // search index.
  absl::StatusOr<std::vector<SearchHit>> Search(const SearchRequest& request);
  // NOT_FOUND unless the department exists.
  absl::Status DepartmentMustExist(int64_t id);
  // Every department in pre-order (a department before those below it,
  // siblings by name then id), with heads and headcounts. DATA_LOSS when
  // parent links form a cycle.
  absl::StatusOr<std::vector<Department>> Departments();
  // Headcount, depth and widest span of control of the subtree: two
  // aggregates over the subtree index (or, without it, one pass of the
  // recursive walk). Ties for the widest span go to the manager first in
  // breadth-first order. Errors as StreamSubtree.
  absl::StatusOr<Summary> Summarize(int64_t root_id, int32_t max_depth,
                                    const CancelFn& cancelled);

 private:
  friend class SubtreeReader;
  explicit Snapshot(store::ConnectionPool::Lease lease)
      : lease_(std::move(lease)) {}
  absl::StatusOr<SchemaFacts> Facts();
  // The checked paths, once this snapshot's generation token is read;
  // null without them or without the token.
  CheckedPaths* Checked();
  absl::StatusOr<std::unique_ptr<SubtreeReader>> Open(
      const SubtreeRequest& request, bool with_fields);
  absl::StatusOr<Summary> SummarizeByPath(int64_t root_id, int32_t max_depth,
                                          const CancelFn& cancelled);
  absl::StatusOr<Summary> SummarizeByWalk(int64_t root_id, int32_t max_depth,
                                          const CancelFn& cancelled);
  absl::Status Walk(const SubtreeRequest& request, bool with_fields,
                    const NodeSink& sink, const CancelFn& cancelled,
                    bool* truncated);
  // The root's path, after checking it against the manager links above
  // the root (or as checked in this generation, on any connection, when
  // `*checked_before` is set): NOT_FOUND, or DATA_LOSS
  // for a cycle or a stale index.
  absl::StatusOr<std::string> RootPath(int64_t root_id, bool* checked_before);

  store::ConnectionPool::Lease lease_;
  int64_t data_version_ = 0;
  ReadCaches* caches_ = nullptr;
  // caches_->checked_paths, until Checked() finds it unusable.
  CheckedPaths* checked_paths_ = nullptr;
  // The path generation token, read by Checked().
  std::optional<int64_t> generation_;
  std::optional<SchemaFacts> facts_;
};

}  // namespace pulse::hierarchy

#endif  // PULSE_LIBS_HIERARCHY_HIERARCHY_H_
