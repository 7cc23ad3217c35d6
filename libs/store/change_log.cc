#include "libs/store/change_log.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "libs/store/path.h"
#include "libs/store/store.h"

namespace pulse::store {
namespace {

constexpr char kTable[] = "change_log";
constexpr char kCommitTable[] = "change_log_commit";

struct KindName {
  ChangeKind kind;
  const char* name;
};
constexpr KindName kKinds[] = {
    {ChangeKind::kEmployeeAdded, "employee_added"},
    {ChangeKind::kEmployeeUpdated, "employee_updated"},
    {ChangeKind::kEmployeeMoved, "employee_moved"},
    {ChangeKind::kEmployeeDeleted, "employee_deleted"},
    {ChangeKind::kDepartmentAdded, "department_added"},
    {ChangeKind::kDepartmentUpdated, "department_updated"},
    {ChangeKind::kDepartmentDeleted, "department_deleted"},
    {ChangeKind::kOrganisationReloaded, "organisation_reloaded"},
};

}  // namespace

std::string FormatToken(const ChangeToken& token) {
  return absl::StrCat(absl::Hex(token.epoch), ".", token.seq);
}

absl::StatusOr<ChangeToken> ParseToken(absl::string_view text) {
  const size_t dot = text.find('.');
  ChangeToken token;
  if (dot == absl::string_view::npos ||
      !absl::SimpleHexAtoi(text.substr(0, dot), &token.epoch) ||
      !absl::SimpleAtoi(text.substr(dot + 1), &token.seq) || token.seq < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'", text,
        "' is not a change token (use a snapshot or an event's token as "
        "given)"));
  }
  return token;
}

absl::StatusOr<std::optional<ChangeLogState>> ReadChangeLogState(Database& db) {
  auto exists = TableExists(db, kTable);
  if (!exists.ok()) return exists.status();
  if (!*exists) return std::optional<ChangeLogState>();
  auto q = db.Prepare(
      "SELECT epoch, pruned_through, (SELECT coalesce(max(seq), 0) FROM "
      "sqlite_sequence WHERE name = 'change_log') FROM change_log_state");
  if (!q.ok()) return q.status();
  auto row = q->Step();
  if (!row.ok()) return row.status();
  if (!*row) {
    return absl::FailedPreconditionError(
        "change_log_state is empty; run 'pulse-schema validate'");
  }
  ChangeLogState state;
  state.epoch = static_cast<uint64_t>(q->Int64(0));
  state.pruned_through = q->Int64(1);
  state.last_seq = q->Int64(2);
  return std::optional<ChangeLogState>(state);
}

absl::StatusOr<std::vector<ChangeRow>> ReadChanges(Database& db, int64_t after,
                                                   int limit) {
  auto commits = TableExists(db, kCommitTable);
  if (!commits.ok()) return commits.status();
  // The nearest commit that starts at or before the row, if it reaches it.
  const absl::string_view commit =
      *commits ? "coalesce((SELECT CASE WHEN c.last_seq >= l.seq THEN "
                 "c.first_seq END FROM change_log_commit c WHERE c.first_seq "
                 "<= l.seq ORDER BY c.first_seq DESC LIMIT 1), l.seq)"
               : "l.seq";
  auto q = db.Prepare(absl::StrCat(
      "SELECT seq, at_ms, kind, id, org_path, old_org_path, manager_id, "
      "full_name, title, email, department_id, hire_date, notes, name, "
      "parent_id, head_employee_id, ",
      commit, " FROM change_log l WHERE seq > ? ORDER BY seq LIMIT ?"));
  if (!q.ok()) return q.status();
  q->Bind(1, after);
  q->Bind(2, limit);
  std::vector<ChangeRow> rows;
  absl::Status s = q->ForEachRow([&]() -> absl::Status {
    ChangeRow& r = rows.emplace_back();
    r.seq = q->Int64(0);
    r.at_ms = q->Int64(1);
    const absl::string_view kind = q->TextView(2);
    bool known = false;
    for (const KindName& k : kKinds) {
      if (kind == k.name) {
        r.kind = k.kind;
        known = true;
      }
    }
    if (!known) {
      return absl::DataLossError(
          absl::StrCat("change_log row ", r.seq, " has kind '", kind, "'"));
    }
    r.id = q->Int64(3);
    r.org_path = q->Text(4);
    r.old_org_path = q->Text(5);
    r.manager_id = q->OptionalInt64(6);
    r.full_name = q->Text(7);
    r.title = q->Text(8);
    r.email = q->Text(9);
    r.department_id = q->OptionalInt64(10);
    r.hire_date = q->Text(11);
    r.notes = q->OptionalText(12);
    r.name = q->Text(13);
    r.parent_id = q->OptionalInt64(14);
    r.head_employee_id = q->OptionalInt64(15);
    r.commit = q->Int64(16);
    return absl::OkStatus();
  });
  if (!s.ok()) return WithContext(s, "reading the change log");
  return rows;
}

absl::StatusOr<std::optional<int64_t>> LastLoggedSeq(Database& db) {
  auto exists = TableExists(db, kCommitTable);
  if (!exists.ok()) return exists.status();
  if (!*exists) return std::optional<int64_t>();
  auto seq = db.SelectInt(
      "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = "
      "'change_log'), 0)");
  if (!seq.ok()) return seq.status();
  return std::optional<int64_t>(*seq);
}

absl::Status RecordCommit(Database& db, int64_t logged_before) {
  auto exists = TableExists(db, kCommitTable);
  if (!exists.ok()) return exists.status();
  if (!*exists) return absl::OkStatus();
  auto q = db.Prepare(
      "INSERT INTO change_log_commit (first_seq, last_seq) SELECT ?1 + 1, "
      "seq FROM sqlite_sequence WHERE name = 'change_log' AND seq > ?1");
  if (!q.ok()) return q.status();
  q->Bind(1, logged_before);
  return q->Run();
}

absl::Status LogReload(Database& db) {
  auto exists = TableExists(db, kTable);
  if (!exists.ok()) return exists.status();
  if (!*exists) return absl::OkStatus();
  return db.Exec(
      "INSERT INTO change_log (kind, id) VALUES ('organisation_reloaded', 0)");
}

absl::Status ReplaceChangeLogEpoch(Database& db) {
  auto exists = TableExists(db, kTable);
  if (!exists.ok()) return exists.status();
  if (!*exists) return absl::OkStatus();
  return db.Exec("UPDATE change_log_state SET epoch = random()");
}

absl::StatusOr<int64_t> PruneChangeLog(Database& db, int64_t older_than_ms,
                                       int64_t keep_rows, int64_t max_rows) {
  // The last seq to delete: the newest row too old, or the newest beyond
  // the cap, whichever is later; but no further than max_rows past the
  // oldest row. The rows too old are found through the at_ms index, so
  // this reads about as much as it deletes: left to itself, SQLite takes
  // max(seq) from the table's end and walks back through the whole log to
  // the first row too old (the service prunes every minute).
  auto q = db.Prepare(
      "SELECT min(max(coalesce((SELECT max(seq) FROM change_log INDEXED BY "
      "change_log_at_ms WHERE at_ms < ?1), 0), coalesce((SELECT max(seq) "
      "FROM change_log), 0) - ?2), coalesce((SELECT min(seq) FROM "
      "change_log), 0) + ?3 - 1)");
  if (!q.ok()) return q.status();
  q->Bind(1, older_than_ms);
  q->Bind(2, keep_rows);
  q->Bind(3, max_rows);
  auto row = q->Step();
  if (!row.ok()) return row.status();
  const int64_t through = q->Int64(0);
  q->Reset();
  if (through <= 0) return 0;
  auto del = db.Prepare("DELETE FROM change_log WHERE seq <= ?");
  if (!del.ok()) return del.status();
  del->Bind(1, through);
  if (absl::Status s = del->Run(); !s.ok()) return s;
  const int64_t deleted = db.Changes();
  auto mark = db.Prepare(
      "UPDATE change_log_state SET pruned_through = max(pruned_through, ?)");
  if (!mark.ok()) return mark.status();
  mark->Bind(1, through);
  if (absl::Status s = mark->Run(); !s.ok()) return s;
  auto commits = TableExists(db, kCommitTable);
  if (!commits.ok()) return commits.status();
  if (*commits) {
    auto forget = db.Prepare(
        "DELETE FROM change_log_commit WHERE first_seq <= ?1 AND "
        "last_seq <= ?1");
    if (!forget.ok()) return forget.status();
    forget->Bind(1, through);
    if (absl::Status s = forget->Run(); !s.ok()) return s;
  }
  return deleted;
}

bool PathHasAncestor(absl::string_view path, int64_t root) {
  if (root < 1 || root > kMaxPathId) return false;
  const std::string component = PathComponent(root);
  for (size_t at = 0; at + kPathComponentChars <= path.size();
       at += kPathComponentChars) {
    if (path.substr(at, kPathComponentChars) == component) return true;
  }
  return false;
}

}  // namespace pulse::store
