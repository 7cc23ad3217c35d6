#ifndef PULSE_LIBS_STORE_CHANGE_LOG_H_
#define PULSE_LIBS_STORE_CHANGE_LOG_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "libs/store/sql.h"

namespace pulse::store {

// The change log (table change_log, revision 2f3de1905fff): one row per
// change to employees and departments, written by triggers for every
// writer, ordered by seq.

// A position in the log: the changes after `seq` in the log of `epoch`.
// Clients see it as an opaque string ("<epoch hex>.<seq>").
struct ChangeToken {
  uint64_t epoch = 0;
  int64_t seq = 0;
};
std::string FormatToken(const ChangeToken& token);
// INVALID_ARGUMENT when `text` is not a token.
absl::StatusOr<ChangeToken> ParseToken(absl::string_view text);

// The log's state in the caller's snapshot: its epoch, the last seq
// written (0 for none) and the last pruned (tokens before it are gone).
struct ChangeLogState {
  uint64_t epoch = 0;
  int64_t last_seq = 0;
  int64_t pruned_through = 0;
};
// nullopt on a schema without the log.
absl::StatusOr<std::optional<ChangeLogState>> ReadChangeLogState(Database& db);

enum class ChangeKind {
  kEmployeeAdded,
  kEmployeeUpdated,
  kEmployeeMoved,
  kEmployeeDeleted,
  kDepartmentAdded,
  kDepartmentUpdated,
  kDepartmentDeleted,
  kOrganisationReloaded,
};

// One row of the log.
struct ChangeRow {
  int64_t seq = 0;
  // The commit it belongs to: the first seq of its transaction as its
  // writer recorded it (change_log_commit, revision 7a27b414ee5c), or seq
  // itself when no writer did (plain SQL, or an older schema).
  int64_t commit = 0;
  int64_t at_ms = 0;
  ChangeKind kind = ChangeKind::kEmployeeAdded;
  int64_t id = 0;
  // The employee's subtree path after and before ("" when none).
  std::string org_path;
  std::string old_org_path;
  // The employee after (employee kinds but deleted, which keeps only
  // manager_id).
  std::optional<int64_t> manager_id;
  std::string full_name, title, email;
  std::optional<int64_t> department_id;
  std::string hire_date;
  std::optional<std::string> notes;
  // The department after (department kinds but deleted).
  std::string name;
  std::optional<int64_t> parent_id, head_employee_id;
};

// Up to `limit` rows with seq > `after`, in order, in the caller's
// snapshot.
absl::StatusOr<std::vector<ChangeRow>> ReadChanges(Database& db, int64_t after,
                                                   int limit);

// For WriteTransaction: the last seq logged so far, at the start of a write
// transaction; nullopt on a schema without change_log_commit.
absl::StatusOr<std::optional<int64_t>> LastLoggedSeq(Database& db);
// For WriteTransaction, before COMMIT: records the changes logged after
// `logged_before` as one commit. Nothing if there are none, or if the
// transaction dropped the table (a downgrade).
absl::Status RecordCommit(Database& db, int64_t logged_before);

// Logs one organisation_reloaded: for writers that set the triggers aside
// and replace the table wholesale (the seeder, a reloading import).
// Nothing on a schema without the log.
absl::Status LogReload(Database& db);

// A new epoch, so that no token from before resumes (after a restore has
// put back an older log). Nothing on a schema without the log.
absl::Status ReplaceChangeLogEpoch(Database& db);

// Deletes the oldest of the rows older than `older_than_ms` (Unix ms) and
// of all but the newest `keep_rows`, at most `max_rows` of them (and the
// commits wholly among them), in one transaction the caller holds, and
// records the last seq deleted. Returns the rows deleted: call again while
// it deleted some, each in its own transaction, so that a large backlog
// does not hold the write lock in one go.
absl::StatusOr<int64_t> PruneChangeLog(Database& db, int64_t older_than_ms,
                                       int64_t keep_rows, int64_t max_rows);

// True when the employee whose path is `path` is `root` or under it.
bool PathHasAncestor(absl::string_view path, int64_t root);

}  // namespace pulse::store

#endif  // PULSE_LIBS_STORE_CHANGE_LOG_H_
