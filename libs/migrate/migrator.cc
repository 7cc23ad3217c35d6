#include "libs/migrate/migrator.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <map>
#include <set>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "libs/migrate/file_lock.h"
#include "libs/migrate/lint.h"
#include "libs/migrate/schema_shape.h"
#include "libs/store/pool.h"
#include "libs/store/store.h"

namespace pulse::migrate {
namespace {

constexpr char kCreateBookkeeping[] = R"sql(
CREATE TABLE IF NOT EXISTS pulse_version (
  revision TEXT PRIMARY KEY NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS pulse_migration_history (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  revision TEXT NOT NULL,
  direction TEXT NOT NULL CHECK (direction IN ('upgrade', 'downgrade', 'stamp')),
  checksum TEXT NOT NULL,
  applied_at TEXT NOT NULL,
  duration_ms REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS pulse_revision_graph (
  revision TEXT PRIMARY KEY NOT NULL,
  down_revisions TEXT NOT NULL,
  breaking INTEGER NOT NULL,
  description TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS pulse_migration_run (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  pid INTEGER NOT NULL,
  target TEXT NOT NULL,
  started_at TEXT NOT NULL
);
)sql";

constexpr char kSelectVersion[] =
    "SELECT revision FROM pulse_version ORDER BY revision";
constexpr char kDeleteVersion[] = "DELETE FROM pulse_version";
constexpr char kInsertVersion[] =
    "INSERT INTO pulse_version (revision) VALUES (?)";
constexpr char kInsertHistory[] =
    "INSERT INTO pulse_migration_history "
    "(revision, direction, checksum, applied_at, duration_ms) "
    "VALUES (?, ?, ?, ?, ?)";
constexpr char kSelectHistory[] =
    "SELECT revision, direction, checksum, applied_at, duration_ms "
    "FROM pulse_migration_history ORDER BY id DESC LIMIT ?";
constexpr char kSelectAppliedChecksum[] =
    "SELECT checksum FROM pulse_migration_history "
    "WHERE revision = ? AND direction IN ('upgrade', 'stamp') "
    "ORDER BY id DESC LIMIT 1";
constexpr char kSelectRun[] = "SELECT target FROM pulse_migration_run";
constexpr char kSelectSequence[] =
    "SELECT coalesce(max(id), 0) FROM pulse_migration_history";
constexpr char kInsertRun[] =
    "INSERT OR REPLACE INTO pulse_migration_run (id, pid, target, started_at) "
    "VALUES (1, ?, ?, ?)";
constexpr char kDeleteRun[] = "DELETE FROM pulse_migration_run";
constexpr char kUpsertGraph[] =
    "INSERT OR REPLACE INTO pulse_revision_graph "
    "(revision, down_revisions, breaking, description) VALUES (?, ?, ?, ?)";
// The user schema: everything but SQLite's own objects and ours.
constexpr char kSelectUserSchema[] =
    "SELECT type, name, tbl_name, sql FROM sqlite_schema "
    "WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name NOT IN "
    "('pulse_version', 'pulse_migration_history', 'pulse_migration_run', "
    "'pulse_revision_graph') "
    "ORDER BY name";

std::string NowRfc3339() {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(),
                          absl::UTCTimeZone());
}

bool FileExists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

std::string DescribeRevisions(const std::vector<std::string>& revisions) {
  return revisions.empty() ? "base" : absl::StrJoin(revisions, ", ");
}

// Replaces the version rows with `current` and records one history row,
// inside the caller's transaction.
absl::Status RecordRevision(store::Database& db,
                            const std::vector<std::string>& current,
                            const Script& script, Direction direction,
                            double duration_ms) {
  if (absl::Status s = db.Exec(kDeleteVersion); !s.ok()) return s;
  auto insert = db.Prepare(kInsertVersion);
  if (!insert.ok()) return insert.status();
  for (const std::string& id : current) {
    insert->Bind(1, id);
    if (absl::Status s = insert->Run(); !s.ok()) return s;
  }
  auto history = db.Prepare(kInsertHistory);
  if (!history.ok()) return history.status();
  history->Bind(1, script.id);
  history->Bind(2, DirectionName(direction));
  history->Bind(3, script.checksum);
  history->Bind(4, NowRfc3339());
  history->Bind(5, duration_ms);
  return history->Run();
}

std::string OfflineRecord(const std::vector<std::string>& current,
                          const Script& script, Direction direction) {
  // Revision ids are [A-Za-z0-9_]+ (checked by the parser), so they can
  // stand in the printed SQL as literals.
  std::string sql = absl::StrCat(kDeleteVersion, ";\n");
  for (const std::string& id : current) {
    absl::StrAppend(&sql, "INSERT INTO pulse_version (revision) VALUES ('", id,
                    "');\n");
  }
  absl::StrAppend(&sql,
                  "INSERT INTO pulse_migration_history (revision, direction, "
                  "checksum, applied_at, duration_ms) VALUES ('",
                  script.id, "', '", DirectionName(direction), "', '",
                  script.checksum,
                  "', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), 0);\n");
  return sql;
}

// Publishes the revision graph in the database, replacing a run marker
// left by a killed run (inside the caller's transaction). Readers (the
// org-data revision gate) learn the graph from the database itself, so
// they can judge revisions newer than their own scripts.
absl::Status PublishGraph(store::Database& db, const RevisionGraph& graph) {
  if (absl::Status s = db.Exec(kDeleteRun); !s.ok()) return s;
  auto upsert = db.Prepare(kUpsertGraph);
  if (!upsert.ok()) return upsert.status();
  for (const std::string& id : graph.topological_order()) {
    const Script* script = graph.Find(id);
    upsert->Bind(1, id);
    upsert->Bind(2, absl::StrJoin(script->down_revisions, ","));
    upsert->Bind(3, script->breaking ? 1 : 0);
    upsert->Bind(4, script->description);
    if (absl::Status s = upsert->Run(); !s.ok()) return s;
  }
  return absl::OkStatus();
}

// Records `current` as the revision in one transaction, with a stamp row
// in the history for each. Stamping records the checksum of the script now
// on disk: later edits to it are caught by Validate like any other.
absl::Status StampAt(store::Database& db, const RevisionGraph& graph,
                     const std::vector<std::string>& current) {
  auto txn = store::WriteTransaction::Begin(db);
  if (!txn.ok()) return txn.status();
  if (absl::Status s = db.Exec(kDeleteVersion); !s.ok()) return s;
  auto insert = db.Prepare(kInsertVersion);
  if (!insert.ok()) return insert.status();
  auto history = db.Prepare(kInsertHistory);
  if (!history.ok()) return history.status();
  for (const std::string& id : current) {
    insert->Bind(1, id);
    if (absl::Status s = insert->Run(); !s.ok()) return s;
    history->Bind(1, id);
    history->Bind(2, DirectionName(Direction::kStamp));
    history->Bind(3, graph.Find(id)->checksum);
    history->Bind(4, NowRfc3339());
    history->Bind(5, 0.0);
    if (absl::Status s = history->Run(); !s.ok()) return s;
  }
  return (*txn)->Commit();
}

// Marks a run as started (pulse_migration_run), in its own transaction.
absl::Status MarkRunStarted(store::Database& db, const std::string& target) {
  auto txn = store::WriteTransaction::Begin(db);
  if (!txn.ok()) return txn.status();
  auto run = db.Prepare(kInsertRun);
  if (!run.ok()) return run.status();
  run->Bind(1, static_cast<int64_t>(::getpid()));
  run->Bind(2, target);
  run->Bind(3, NowRfc3339());
  if (absl::Status s = run->Run(); !s.ok()) return s;
  return (*txn)->Commit();
}

// What one step of a plan would drop, counted in the database as it is
// before the run.
struct StepLoss {
  std::string revision;
  // "table employees (3000 rows)", "column employees.notes (12 values)".
  std::vector<std::string> losses;
  // Tables the step drops and creates again (a rebuild): their rows are
  // counted before and after it runs.
  std::vector<std::string> rebuilt;
};

// Replays `plan` on an in-memory copy of `db`'s schema to learn what each
// step drops, then counts what that holds in `db`. A step that does not
// replay ends the list there (running it reports the error).
absl::StatusOr<std::vector<StepLoss>> PlanLossesOf(
    store::Database& db, const RevisionGraph& graph,
    const std::vector<std::string>& plan, Direction direction) {
  std::vector<StepLoss> out(plan.size());
  auto live = ReadShape(db);
  if (!live.ok()) return live.status();
  // With no rows anywhere there is nothing to lose: skip the replay (an
  // upgrade of a new database).
  bool any_rows = false;
  for (const auto& [name, table] : live->tables) {
    auto rows = db.SelectInt(absl::StrCat("SELECT EXISTS (SELECT 1 FROM ",
                                          QuoteIdentifier(name), ")"));
    if (!rows.ok()) return rows.status();
    if (*rows != 0 && !IsDerivedData(name)) any_rows = true;
  }
  if (!any_rows) {
    for (size_t i = 0; i < plan.size(); ++i) out[i].revision = plan[i];
    return out;
  }
  auto copy = CopySchema(db);
  if (!copy.ok()) return copy.status();
  for (size_t i = 0; i < plan.size(); ++i) {
    StepLoss& step = out[i];
    step.revision = plan[i];
    const Script* script = graph.Find(plan[i]);
    auto replay = ReplayScript(**copy, direction == Direction::kUpgrade
                                           ? script->upgrade_sql
                                           : script->downgrade_sql);
    if (!replay.ok()) return replay.status();
    if (!replay->status.ok()) break;
    const Removal removal = Removed(replay->before, replay->after);
    for (const std::string& table : removal.tables) {
      if (!live->tables.count(table) || replay->renamed_tables.count(table) ||
          IsDerivedData(table)) {
        continue;
      }
      auto rows = db.SelectInt(
          absl::StrCat("SELECT count(*) FROM ", QuoteIdentifier(table)));
      if (!rows.ok()) return rows.status();
      if (*rows > 0) {
        step.losses.push_back(absl::StrCat("table ", table, " (", *rows,
                                           *rows == 1 ? " row)" : " rows)"));
      }
    }
    for (const auto& [table, column] : removal.columns) {
      auto it = live->tables.find(table);
      if (it == live->tables.end() || it->second.Find(column) == nullptr ||
          replay->renamed_columns.count({table, column}) ||
          IsDerivedData(table, column)) {
        continue;
      }
      auto values = db.SelectInt(
          absl::StrCat("SELECT count(*) FROM ", QuoteIdentifier(table),
                       " WHERE ", QuoteIdentifier(column), " IS NOT NULL"));
      if (!values.ok()) return values.status();
      if (*values > 0) {
        step.losses.push_back(
            absl::StrCat("column ", table, ".", column, " (", *values,
                         *values == 1 ? " value)" : " values)"));
      }
    }
    for (const std::string& table : replay->vanished) {
      if (replay->after.tables.count(table) && live->tables.count(table) &&
          !IsDerivedData(table)) {
        step.rebuilt.push_back(table);
      }
    }
  }
  return out;
}

// PRAGMA foreign_key_check, for a script run with foreign keys off:
// FAILED_PRECONDITION naming the first rows that break a reference.
absl::Status ForeignKeyCheck(store::Database& db) {
  auto check = db.Prepare(
      "SELECT c.\"table\", c.rowid, c.parent, f.\"from\" FROM "
      "pragma_foreign_key_check AS c LEFT JOIN "
      "pragma_foreign_key_list(c.\"table\") "
      "AS f ON f.id = c.fkid AND f.seq = 0");
  if (!check.ok()) return check.status();
  std::vector<std::string> rows;
  int64_t total = 0;
  absl::Status s = check->ForEachRow([&] {
    if (++total <= 20) {
      rows.push_back(absl::StrCat(check->Text(0), " row ",
                                  check->IsNull(1) ? "?" : check->Text(1), " (",
                                  check->Text(3), " -> ", check->Text(2), ")"));
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  if (total == 0) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "PRAGMA foreign_key_check found ", total,
      " row(s) whose reference points nowhere: ", absl::StrJoin(rows, ", "),
      total > 20 ? absl::StrCat(" and ", total - 20, " more") : ""));
}

}  // namespace

std::string BackupPath(const std::string& db_path,
                       const std::vector<std::string>& revisions) {
  return absl::StrCat(
      db_path, ".", revisions.empty() ? "base" : absl::StrJoin(revisions, "+"),
      ".",
      absl::FormatTime("%Y%m%dT%H%M%E3SZ", absl::Now(), absl::UTCTimeZone()),
      ".bak");
}

namespace {

absl::StatusOr<std::map<std::string, std::string>> UserSchema(
    store::Database& db) {
  std::map<std::string, std::string> out;
  auto q = db.Prepare(kSelectUserSchema);
  if (!q.ok()) return q.status();
  while (true) {
    auto row = q->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    out[q->Text(1)] = absl::StrCat(q->Text(0), " on ", q->Text(2), ": ",
                                   NormalizeSql(q->TextView(3)));
  }
  return out;
}

}  // namespace

const char* DirectionName(Direction direction) {
  switch (direction) {
    case Direction::kUpgrade:
      return "upgrade";
    case Direction::kDowngrade:
      return "downgrade";
    case Direction::kStamp:
      return "stamp";
  }
  return "unknown";
}

namespace {

constexpr char kSelectBookkeepingTables[] =
    "SELECT name FROM sqlite_schema WHERE type = 'table' AND name IN "
    "('pulse_version', 'pulse_migration_history', 'pulse_migration_run')";

// Reads the state with statements from `prepare`, which may cache them.
// Runs `sql` and calls `row` with each row.
absl::Status EachRow(
    const std::function<absl::StatusOr<store::Statement*>(const char*)>&
        prepare,
    const char* sql, const std::function<void(store::Statement&)>& row) {
  auto q = prepare(sql);
  if (!q.ok()) return q.status();
  while (true) {
    auto more = (*q)->Step();
    if (!more.ok()) return more.status();
    if (!*more) break;
    row(**q);
  }
  (*q)->Reset();
  return absl::OkStatus();
}

// Reads the state with statements from `prepare`, which may cache them.
absl::StatusOr<RevisionState> ReadState(
    const std::function<absl::StatusOr<store::Statement*>(const char*)>&
        prepare) {
  RevisionState state;
  bool has_version = false, has_history = false, has_run = false;
  absl::Status s =
      EachRow(prepare, kSelectBookkeepingTables, [&](store::Statement& q) {
        const std::string name = q.Text(0);
        has_version |= name == kVersionTable;
        has_history |= name == kHistoryTable;
        has_run |= name == kRunTable;
      });
  if (s.ok() && has_version) {
    s = EachRow(prepare, kSelectVersion, [&](store::Statement& q) {
      state.current.push_back(q.Text(0));
    });
  }
  if (s.ok() && has_version && has_history) {
    s = EachRow(prepare, kSelectSequence, [&](store::Statement& q) {
      state.history_sequence = q.Int64(0);
    });
  }
  if (s.ok() && has_version && has_run) {
    s = EachRow(prepare, kSelectRun, [&](store::Statement& q) {
      state.migration_in_progress = true;
      state.migration_target = q.Text(0);
    });
  }
  if (!s.ok()) return store::WithContext(s, "reading the revision state");
  return state;
}

}  // namespace

absl::StatusOr<RevisionState> ReadRevisionState(store::Database& db) {
  std::vector<std::unique_ptr<store::Statement>> statements;
  return ReadState([&](const char* sql) -> absl::StatusOr<store::Statement*> {
    auto q = db.Prepare(sql);
    if (!q.ok()) return q.status();
    statements.push_back(std::make_unique<store::Statement>(*std::move(q)));
    return statements.back().get();
  });
}

absl::StatusOr<RevisionState> ReadRevisionState(store::Connection& connection) {
  return ReadState([&](const char* sql) -> absl::StatusOr<store::Statement*> {
    return connection.Prepare(sql);
  });
}

absl::StatusOr<std::unique_ptr<Migrator>> Migrator::Create(
    const std::string& migrations_dir, MigratorOptions options) {
  auto scripts = LoadScripts(migrations_dir);
  if (!scripts.ok()) return scripts.status();
  auto graph = RevisionGraph::Build(*std::move(scripts));
  if (!graph.ok()) return graph.status();
  return std::make_unique<Migrator>(*std::move(graph), std::move(options));
}

Migrator::Migrator(RevisionGraph graph, MigratorOptions options)
    : graph_(std::move(graph)), options_(std::move(options)) {}

absl::StatusOr<RevisionState> Migrator::GetState() const {
  if (!FileExists(options_.db_path)) return RevisionState{};
  store::OpenOptions open;
  open.read_only = true;
  open.busy_timeout = options_.busy_timeout;
  auto db = store::Open(options_.db_path, open);
  if (!db.ok()) return db.status();
  return ReadRevisionState(**db);
}

absl::StatusOr<RevisionSet> Migrator::AppliedSet(
    const RevisionState& state) const {
  for (const std::string& id : state.current) {
    if (graph_.Find(id) == nullptr) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the database is at revision ", id,
          ", which no script in the migrations directory defines (scripts "
          "from a newer release, or a wrong --migrations directory)"));
    }
  }
  return graph_.Closure(state.current);
}

absl::StatusOr<RevisionSet> Migrator::Desired(
    Direction direction, absl::string_view target,
    const RevisionSet& applied) const {
  if (target.empty()) {
    return absl::InvalidArgumentError(
        "a target is required: head, heads, base, +N, -N or a revision id");
  }
  if (target[0] == '+' || target[0] == '-') {
    int n = 0;
    if (!absl::SimpleAtoi(target.substr(1), &n) || n <= 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "relative target '", target, "' must be +N or -N with N >= 1"));
    }
    const bool up = target[0] == '+';
    if ((direction == Direction::kUpgrade && !up) ||
        (direction == Direction::kDowngrade && up)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "relative target '", target, "' points the wrong way for ",
          DirectionName(direction)));
    }
    const auto& order = graph_.topological_order();
    RevisionSet desired = applied;
    int moved = 0;
    if (up) {
      for (auto it = order.begin(); it != order.end() && moved < n; ++it) {
        if (desired.insert(*it).second) ++moved;
      }
    } else {
      for (auto it = order.rbegin(); it != order.rend() && moved < n; ++it) {
        if (desired.erase(*it) > 0) ++moved;
      }
    }
    if (moved < n) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot move ", target, ": only ", moved,
                       " revision(s) lie in that direction"));
    }
    return desired;
  }
  RevisionSet named;
  if (target == "base") {
    // Empty.
  } else if (target == "heads") {
    named = graph_.Closure(graph_.heads());
  } else if (target == "head") {
    if (graph_.heads().size() != 1) {
      return absl::InvalidArgumentError(
          graph_.heads().empty()
              ? std::string("there are no migration scripts, so no head")
              : absl::StrCat("the migrations have ", graph_.heads().size(),
                             " heads (", absl::StrJoin(graph_.heads(), ", "),
                             "): name one, use 'heads', or merge them"));
    }
    named = graph_.Closure(graph_.heads());
  } else {
    auto id = graph_.Resolve(target);
    if (!id.ok()) return id.status();
    named = graph_.Closure({*id});
  }
  switch (direction) {
    case Direction::kUpgrade: {
      RevisionSet desired = applied;
      desired.insert(named.begin(), named.end());
      return desired;
    }
    case Direction::kDowngrade:
      if (!std::includes(applied.begin(), applied.end(), named.begin(),
                         named.end())) {
        return absl::InvalidArgumentError(absl::StrCat(
            "cannot downgrade to ", target,
            ": it is not applied (downgrade goes down only; use upgrade)"));
      }
      return named;
    case Direction::kStamp:
      return named;
  }
  return absl::InternalError("unknown direction");
}

absl::StatusOr<MigrationResult> Migrator::Upgrade(absl::string_view target,
                                                  const RunOptions& run) {
  return Run(Direction::kUpgrade, target, run);
}

absl::StatusOr<MigrationResult> Migrator::Downgrade(absl::string_view target,
                                                    const RunOptions& run) {
  return Run(Direction::kDowngrade, target, run);
}

absl::StatusOr<MigrationResult> Migrator::Stamp(absl::string_view target) {
  return Run(Direction::kStamp, target, RunOptions{});
}

absl::StatusOr<MigrationResult> Migrator::Run(Direction direction,
                                              absl::string_view target,
                                              const RunOptions& run) {
  const bool sql_only = run.sql_only;
  MigrationResult result;
  std::unique_ptr<FileLock> lock;
  std::unique_ptr<store::Database> db;
  RevisionState state;
  if (sql_only) {
    auto current = GetState();
    if (!current.ok()) return current.status();
    state = *std::move(current);
  } else {
    if (direction == Direction::kDowngrade && !FileExists(options_.db_path)) {
      return absl::NotFoundError(
          absl::StrCat("database file ", options_.db_path, " does not exist"));
    }
    // The lock first: two runners racing to create the file would
    // otherwise race to switch it to WAL as well.
    auto acquired = FileLock::Acquire(MigrationLockPath(options_.db_path),
                                      options_.lock_timeout);
    if (!acquired.ok()) return acquired.status();
    lock = *std::move(acquired);
    store::OpenOptions open;
    open.busy_timeout = options_.busy_timeout;
    auto opened = store::Open(options_.db_path, open);
    if (!opened.ok()) return opened.status();
    db = *std::move(opened);
    {
      auto txn = store::WriteTransaction::Begin(*db);
      if (!txn.ok()) return txn.status();
      if (auto s = db->Exec(kCreateBookkeeping); !s.ok()) {
        return s;
      }
      // A run marker left while we hold the lock is from a killed run; each
      // of its revisions committed whole, so the state is consistent.
      if (absl::Status s = PublishGraph(*db, graph_); !s.ok()) {
        return store::WithContext(s, "preparing the bookkeeping tables");
      }
      if (auto s = (*txn)->Commit(); !s.ok()) return s;
    }
    auto current = ReadRevisionState(*db);
    if (!current.ok()) return current.status();
    state = *std::move(current);
  }

  auto applied = AppliedSet(state);
  if (!applied.ok()) return applied.status();
  auto desired = Desired(direction, target, *applied);
  if (!desired.ok()) return desired.status();

  // The revisions to run, in order.
  std::vector<std::string> plan;
  const auto& order = graph_.topological_order();
  if (direction == Direction::kUpgrade) {
    for (const std::string& id : order) {
      if (desired->count(id) && !applied->count(id)) plan.push_back(id);
    }
  } else if (direction == Direction::kDowngrade) {
    for (auto it = order.rbegin(); it != order.rend(); ++it) {
      if (applied->count(*it) && !desired->count(*it)) plan.push_back(*it);
    }
    for (const std::string& id : plan) {
      const Script* script = graph_.Find(id);
      if (!script->has_downgrade) {
        return absl::FailedPreconditionError(
            absl::StrCat("revision ", id, " (", script->file,
                         ") has no '-- +downgrade' section, so it cannot be "
                         "reverted; nothing was changed"));
      }
    }
  }

  if (sql_only) {
    RevisionSet now = *applied;
    absl::StrAppend(&result.sql,
                    "-- Pulse offline migration: ", DirectionName(direction),
                    " to ", target, "\n", kCreateBookkeeping);
    for (const std::string& id : plan) {
      const Script* script = graph_.Find(id);
      if (direction == Direction::kUpgrade) {
        now.insert(id);
      } else {
        now.erase(id);
      }
      absl::StrAppend(
          &result.sql, "\n-- ", DirectionName(direction), " ", id, " (",
          script->file, "): ", script->description, "\n",
          script->foreign_keys_off ? "PRAGMA foreign_keys = OFF;\n" : "",
          "BEGIN IMMEDIATE;\n",
          direction == Direction::kUpgrade ? script->upgrade_sql
                                           : script->downgrade_sql,
          OfflineRecord(graph_.Maximal(now), *script, direction),
          script->foreign_keys_off
              ? "-- Stop here if this returns any row:\nPRAGMA "
                "foreign_key_check;\n"
              : "",
          "COMMIT;\n",
          script->foreign_keys_off ? "PRAGMA foreign_keys = ON;\n" : "");
      result.steps.push_back({id, direction, 0});
    }
    result.state = state;
    return result;
  }

  if (direction == Direction::kStamp) {
    const std::vector<std::string> current = graph_.Maximal(*desired);
    if (absl::Status s = StampAt(*db, graph_, current); !s.ok()) {
      return store::WithContext(s, "stamping");
    }
    for (const std::string& id : current) {
      result.steps.push_back({id, Direction::kStamp, 0});
    }
    auto after = ReadRevisionState(*db);
    if (!after.ok()) return after.status();
    result.state = *std::move(after);
    return result;
  }

  if (plan.empty()) {
    result.state = state;
    return result;
  }

  // The data guard: what each step would drop, before any of them runs.
  auto losses = PlanLossesOf(*db, graph_, plan, direction);
  if (!losses.ok()) {
    return store::WithContext(losses.status(), "checking for data loss");
  }
  std::vector<std::string> lost;
  for (const StepLoss& step : *losses) {
    if (step.losses.empty()) continue;
    lost.push_back(absl::StrCat(DirectionName(direction), " of ", step.revision,
                                " (", graph_.Find(step.revision)->file,
                                ") drops ", absl::StrJoin(step.losses, ", ")));
  }
  if (!lost.empty() && !run.allow_data_loss) {
    return absl::FailedPreconditionError(absl::StrCat(
        DirectionName(direction), " to ", target,
        " would lose data: ", absl::StrJoin(lost, "; "),
        ". Nothing was changed. To go ahead, pass --allow_data_loss to "
        "pulse-schema (allow_data_loss: true over gRPC); a backup of the "
        "database is written before each step that loses data"));
  }

  if (absl::Status s = MarkRunStarted(
          *db, absl::StrCat(DirectionName(direction), " ", target));
      !s.ok()) {
    return store::WithContext(s, "marking the migration as started");
  }
  absl::Cleanup clear_marker = [&db] {
    // Left behind, the marker is cleared by the next run that takes the
    // lock; the revision state itself is consistent either way.
    db->Exec(kDeleteRun).IgnoreError();
  };

  RevisionSet now = *applied;
  std::vector<std::string> expected = graph_.Maximal(now);
  for (size_t i = 0; i < plan.size(); ++i) {
    const std::string& id = plan[i];
    const Script* script = graph_.Find(id);
    const StepLoss& loss = (*losses)[i];
    const absl::Time start = absl::Now();
    // Foreign keys can only be switched outside a transaction.
    if (script->foreign_keys_off) {
      if (absl::Status s = db->Exec("PRAGMA foreign_keys = OFF"); !s.ok()) {
        return s;
      }
    }
    absl::Cleanup foreign_keys_on = [&db, script] {
      if (script->foreign_keys_off) {
        db->Exec("PRAGMA foreign_keys = ON").IgnoreError();
      }
    };
    auto txn = store::WriteTransaction::Begin(*db);
    if (!txn.ok()) return txn.status();
    auto in_txn = ReadRevisionState(*db);
    if (!in_txn.ok()) return in_txn.status();
    if (in_txn->current != expected) {
      return absl::AbortedError(absl::StrCat(
          "the revision changed underneath this migration (expected ",
          DescribeRevisions(expected), ", found ",
          DescribeRevisions(in_txn->current), "); run it again"));
    }
    // The backup holds the state this step starts from: it reads the last
    // commit on a connection of its own while this one holds the write
    // lock.
    if ((run.backup && i == 0) ||
        (run.allow_data_loss &&
         (!loss.losses.empty() || !loss.rebuilt.empty()))) {
      const std::string path = BackupPath(options_.db_path, expected);
      if (auto pages = store::Backup(options_.db_path, path); !pages.ok()) {
        return store::WithContext(
            pages.status(), absl::StrCat("backing up before revision ", id,
                                         "; nothing was changed by this step"));
      }
      result.backups.push_back(path);
    }
    std::map<std::string, int64_t> rows_before;
    for (const std::string& table : loss.rebuilt) {
      auto rows = db->SelectInt(
          absl::StrCat("SELECT count(*) FROM ", QuoteIdentifier(table)));
      if (!rows.ok()) return rows.status();
      rows_before[table] = *rows;
    }
    absl::Status step =
        db->Exec(direction == Direction::kUpgrade ? script->upgrade_sql
                                                  : script->downgrade_sql);
    if (step.ok() && script->foreign_keys_off) {
      step = ForeignKeyCheck(*db);
    }
    if (step.ok() && !run.allow_data_loss) {
      std::vector<std::string> fewer;
      for (const auto& [table, before] : rows_before) {
        auto rows = db->SelectInt(
            absl::StrCat("SELECT count(*) FROM ", QuoteIdentifier(table)));
        if (!rows.ok()) return rows.status();
        if (*rows < before) {
          fewer.push_back(absl::StrCat("table ", table, " (", before - *rows,
                                       " of ", before, " rows)"));
        }
      }
      if (!fewer.empty()) {
        step = absl::FailedPreconditionError(absl::StrCat(
            "its rebuild would lose data: ", absl::StrJoin(fewer, ", "),
            "; to go ahead, pass --allow_data_loss to pulse-schema "
            "(allow_data_loss: true over gRPC)"));
      }
    }
    if (!step.ok()) {
      const absl::StatusCode code = step.code() == absl::StatusCode::kInternal
                                        ? absl::StatusCode::kFailedPrecondition
                                        : step.code();
      return absl::Status(
          code,
          absl::StrCat(DirectionName(direction), " of revision ", id, " (",
                       script->file,
                       ") failed and was rolled "
                       "back; the database stays at ",
                       DescribeRevisions(expected), ": ", step.message()));
    }
    if (direction == Direction::kUpgrade) {
      now.insert(id);
    } else {
      now.erase(id);
    }
    std::vector<std::string> next = graph_.Maximal(now);
    const double duration_ms = absl::ToDoubleMilliseconds(absl::Now() - start);
    if (absl::Status s =
            RecordRevision(*db, next, *script, direction, duration_ms);
        !s.ok()) {
      return store::WithContext(s, absl::StrCat("recording revision ", id));
    }
    if (auto s = (*txn)->Commit(); !s.ok()) {
      return absl::Status(s.code(),
                          absl::StrCat("revision ", id, " (", script->file,
                                       "): ", s.message()));
    }
    result.steps.push_back({id, direction, duration_ms});
    expected = std::move(next);
  }
  std::move(clear_marker).Invoke();
  auto after = ReadRevisionState(*db);
  if (!after.ok()) return after.status();
  result.state = *std::move(after);
  return result;
}

absl::StatusOr<std::vector<HistoryEntry>> Migrator::History(int limit) const {
  std::vector<HistoryEntry> out;
  if (!FileExists(options_.db_path)) return out;
  store::OpenOptions open;
  open.read_only = true;
  open.busy_timeout = options_.busy_timeout;
  auto db = store::Open(options_.db_path, open);
  if (!db.ok()) return db.status();
  auto exists = store::TableExists(**db, kHistoryTable);
  if (!exists.ok()) return exists.status();
  if (!*exists) return out;
  auto q = (*db)->Prepare(kSelectHistory);
  if (!q.ok()) return q.status();
  q->Bind(1, limit);
  while (true) {
    auto row = q->Step();
    if (!row.ok()) {
      return store::WithContext(row.status(), "reading the migration history");
    }
    if (!*row) break;
    out.push_back(
        {q->Text(0), q->Text(1), q->Text(2), q->Text(3), q->Double(4)});
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> Migrator::Validate() const {
  std::vector<std::string> problems;
  auto findings = Lint(graph_);
  if (!findings.ok()) return findings.status();
  for (const LintFinding& finding : *findings) {
    if (finding.severity == LintFinding::Severity::kError) {
      problems.push_back(absl::StrCat("lint: ", FormatFinding(finding)));
    }
  }
  if (!FileExists(options_.db_path)) return problems;
  store::OpenOptions open;
  open.read_only = true;
  open.busy_timeout = options_.busy_timeout;
  auto opened = store::Open(options_.db_path, open);
  if (!opened.ok()) return opened.status();
  store::Database& db = **opened;
  {
    // One snapshot for the whole check.
    auto snapshot = store::ReadTransaction::Begin(db);
    if (!snapshot.ok()) return snapshot.status();
    auto state = ReadRevisionState(db);
    if (!state.ok()) return state.status();
    if (state->migration_in_progress) {
      problems.push_back(absl::StrCat("a migration is in progress (",
                                      state->migration_target, ")"));
    }
    std::vector<std::string> known;
    for (const std::string& id : state->current) {
      if (graph_.Find(id) == nullptr) {
        problems.push_back(absl::StrCat(
            "the database is at revision ", id,
            ", which no script in the migrations directory defines"));
      } else {
        known.push_back(id);
      }
    }
    const RevisionSet applied = graph_.Closure(known);
    auto checksum = db.Prepare(kSelectAppliedChecksum);
    if (!checksum.ok()) return checksum.status();
    for (const std::string& id : graph_.topological_order()) {
      if (!applied.count(id)) continue;
      checksum->Bind(1, id);
      auto row = checksum->Step();
      if (!row.ok()) return store::WithContext(row.status(), "validating");
      if (*row) {
        const std::string recorded = checksum->Text(0);
        const Script* script = graph_.Find(id);
        if (recorded != script->checksum) {
          problems.push_back(absl::StrCat(
              "script ", script->file, " (revision ", id,
              ") was edited after it was applied: checksum ",
              script->checksum.substr(0, 12), " differs from the recorded ",
              recorded.substr(0, 12)));
        }
      }
      checksum->Reset();
    }
    if (!problems.empty() && known.size() != state->current.size()) {
      return problems;  // Drift is meaningless against unknown revisions.
    }

    // Schema drift: replay the applied scripts on an empty database.
    auto expected_db = store::OpenDatabase(
        ":memory:", SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, 0);
    if (!expected_db.ok()) return expected_db.status();
    if (absl::Status s = (*expected_db)->Exec("PRAGMA foreign_keys = ON");
        !s.ok()) {
      return s;
    }
    for (const std::string& id : graph_.topological_order()) {
      if (!applied.count(id)) continue;
      const Script* script = graph_.Find(id);
      if (auto s = (*expected_db)->Exec(script->upgrade_sql); !s.ok()) {
        problems.push_back(absl::StrCat("script ", script->file,
                                        " does not replay on an empty "
                                        "database: ",
                                        s.message()));
        return problems;
      }
    }
    auto expected = UserSchema(**expected_db);
    if (!expected.ok()) return expected.status();
    auto live = UserSchema(db);
    if (!live.ok()) return live.status();
    for (const auto& [name, definition] : *expected) {
      auto it = live->find(name);
      if (it == live->end()) {
        problems.push_back(absl::StrCat(
            "schema drift: ", name, " is missing (expected ", definition, ")"));
      } else if (it->second != definition) {
        problems.push_back(absl::StrCat("schema drift: ", name,
                                        " differs: expected ", definition,
                                        "; found ", it->second));
      }
    }
    for (const auto& [name, definition] : *live) {
      if (!expected->count(name)) {
        problems.push_back(absl::StrCat("schema drift: unexpected ", definition,
                                        " (", name,
                                        ") that no applied script creates"));
      }
    }
  }
  return problems;
}

}  // namespace pulse::migrate
