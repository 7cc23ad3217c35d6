#ifndef PULSE_LIBS_HIERARCHY_HIERARCHY_H_
#define PULSE_LIBS_HIERARCHY_HIERARCHY_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
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
// Receives each node in order (it may move the strings out); returning
// false stops the read (OK status).
using NodeSink = std::function<bool(Employee&)>;

// One read transaction on a pooled connection: every read through it sees
// the same snapshot of the database, including its revision state. Not
// thread-safe; one per request.
class Snapshot {
 public:
  // Begins the transaction. Errors of the pool and of SQLite (mapped).
  static absl::StatusOr<std::unique_ptr<Snapshot>> Begin(
      store::ConnectionPool::Lease lease);
  ~Snapshot();
  Snapshot(const Snapshot&) = delete;
  Snapshot& operator=(const Snapshot&) = delete;

  // The connection, for reads that must share the snapshot (the gate).
  SQLite::Database& db() { return (*lease_).db(); }
  store::Connection& connection() { return *lease_; }
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
  // Streams the subtree under request.root_id to `sink`, never holding more
  // than the traversal frontier in memory. NOT_FOUND for an unknown root;
  // DATA_LOSS when the manager links loop back to the root (a cycle);
  // CANCELLED when `cancelled` says so. `*truncated` is set when max_nodes
  // stopped the read early.
  absl::Status StreamSubtree(const SubtreeRequest& request,
                             const NodeSink& sink, const CancelFn& cancelled,
                             bool* truncated);
  // Headcount, depth and widest span of control of the subtree, in one
  // pass. Errors as StreamSubtree.
  absl::StatusOr<Summary> Summarize(int64_t root_id, int32_t max_depth,
                                    const CancelFn& cancelled);

 private:
  explicit Snapshot(store::ConnectionPool::Lease lease)
      : lease_(std::move(lease)) {}
  absl::Status Walk(const SubtreeRequest& request, bool with_fields,
                    const NodeSink& sink, const CancelFn& cancelled,
                    bool* truncated);
  // The root's path, after checking it against the manager links above
  // the root: NOT_FOUND, or DATA_LOSS for a cycle or a stale index.
  absl::StatusOr<std::string> RootPath(int64_t root_id);

  store::ConnectionPool::Lease lease_;
  std::optional<bool> has_notes_;
  std::optional<bool> has_path_;
};

}  // namespace pulse::hierarchy

#endif  // PULSE_LIBS_HIERARCHY_HIERARCHY_H_
