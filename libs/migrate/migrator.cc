#include "libs/migrate/migrator.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <map>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "libs/migrate/file_lock.h"
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

std::string Collapse(absl::string_view sql) {
  return absl::StrJoin(
      absl::StrSplit(sql, absl::ByAnyChar(" \t\r\n"), absl::SkipEmpty()), " ");
}

// Replaces the version rows with `current` and records one history row,
// inside the caller's transaction.
void RecordRevision(SQLite::Database& db,
                    const std::vector<std::string>& current,
                    const Script& script, Direction direction,
                    double duration_ms) {
  db.exec(kDeleteVersion);
  SQLite::Statement insert(db, kInsertVersion);
  for (const std::string& id : current) {
    insert.bind(1, id);
    insert.exec();
    insert.reset();
  }
  SQLite::Statement history(db, kInsertHistory);
  history.bind(1, script.id);
  history.bind(2, DirectionName(direction));
  history.bind(3, script.checksum);
  history.bind(4, NowRfc3339());
  history.bind(5, duration_ms);
  history.exec();
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

absl::StatusOr<std::map<std::string, std::string>> UserSchema(
    SQLite::Database& db) {
  std::map<std::string, std::string> out;
  SQLite::Statement q(db, kSelectUserSchema);
  while (q.executeStep()) {
    out[q.getColumn(1).getString()] = absl::StrCat(
        q.getColumn(0).getString(), " on ", q.getColumn(2).getString(), ": ",
        Collapse(q.getColumn(3).getString()));
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
absl::StatusOr<RevisionState> ReadState(
    const std::function<SQLite::Statement&(const char*)>& prepare) {
  RevisionState state;
  try {
    bool has_version = false, has_history = false, has_run = false;
    SQLite::Statement& tables = prepare(kSelectBookkeepingTables);
    while (tables.executeStep()) {
      const std::string name = tables.getColumn(0).getString();
      has_version |= name == kVersionTable;
      has_history |= name == kHistoryTable;
      has_run |= name == kRunTable;
    }
    tables.reset();
    if (!has_version) return state;
    SQLite::Statement& version = prepare(kSelectVersion);
    while (version.executeStep()) {
      state.current.push_back(version.getColumn(0).getString());
    }
    version.reset();
    if (has_history) {
      SQLite::Statement& sequence = prepare(kSelectSequence);
      if (sequence.executeStep())
        state.history_sequence = sequence.getColumn(0).getInt64();
      sequence.reset();
    }
    if (has_run) {
      SQLite::Statement& run = prepare(kSelectRun);
      if (run.executeStep()) {
        state.migration_in_progress = true;
        state.migration_target = run.getColumn(0).getString();
      }
      run.reset();
    }
    return state;
  } catch (const SQLite::Exception& e) {
    return store::FromException(e, "reading the revision state");
  }
}

}  // namespace

absl::StatusOr<RevisionState> ReadRevisionState(SQLite::Database& db) {
  std::vector<std::unique_ptr<SQLite::Statement>> statements;
  return ReadState([&](const char* sql) -> SQLite::Statement& {
    statements.push_back(std::make_unique<SQLite::Statement>(db, sql));
    return *statements.back();
  });
}

absl::StatusOr<RevisionState> ReadRevisionState(store::Connection& connection) {
  return ReadState([&](const char* sql) -> SQLite::Statement& {
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
                                                  bool sql_only) {
  return Run(Direction::kUpgrade, target, sql_only);
}

absl::StatusOr<MigrationResult> Migrator::Downgrade(absl::string_view target,
                                                    bool sql_only) {
  return Run(Direction::kDowngrade, target, sql_only);
}

absl::StatusOr<MigrationResult> Migrator::Stamp(absl::string_view target) {
  return Run(Direction::kStamp, target, false);
}

absl::StatusOr<MigrationResult> Migrator::Run(Direction direction,
                                              absl::string_view target,
                                              bool sql_only) {
  MigrationResult result;
  std::unique_ptr<FileLock> lock;
  std::unique_ptr<SQLite::Database> db;
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
      if (auto s = store::ExecScript(*db, kCreateBookkeeping); !s.ok()) {
        return s;
      }
      // A run marker left while we hold the lock is from a killed run; each
      // of its revisions committed whole, so the state is consistent.
      try {
        db->exec(kDeleteRun);
        // Readers (the org-data revision gate) learn the graph from the
        // database itself, so they can judge revisions newer than their own
        // scripts.
        SQLite::Statement upsert(*db, kUpsertGraph);
        for (const std::string& id : graph_.topological_order()) {
          const Script* script = graph_.Find(id);
          upsert.bind(1, id);
          upsert.bind(2, absl::StrJoin(script->down_revisions, ","));
          upsert.bind(3, script->breaking ? 1 : 0);
          upsert.bind(4, script->description);
          upsert.exec();
          upsert.reset();
        }
      } catch (const SQLite::Exception& e) {
        return store::FromException(e, "preparing the bookkeeping tables");
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
          script->file, "): ", script->description, "\nBEGIN IMMEDIATE;\n",
          direction == Direction::kUpgrade ? script->upgrade_sql
                                           : script->downgrade_sql,
          OfflineRecord(graph_.Maximal(now), *script, direction), "COMMIT;\n");
      result.steps.push_back({id, direction, 0});
    }
    result.state = state;
    return result;
  }

  if (direction == Direction::kStamp) {
    const std::vector<std::string> current = graph_.Maximal(*desired);
    try {
      auto txn = store::WriteTransaction::Begin(*db);
      if (!txn.ok()) return txn.status();
      db->exec(kDeleteVersion);
      SQLite::Statement insert(*db, kInsertVersion);
      for (const std::string& id : current) {
        insert.bind(1, id);
        insert.exec();
        insert.reset();
        // Stamping records the checksum of the script now on disk: later
        // edits to it are caught by Validate like any other.
        SQLite::Statement history(*db, kInsertHistory);
        history.bind(1, id);
        history.bind(2, DirectionName(Direction::kStamp));
        history.bind(3, graph_.Find(id)->checksum);
        history.bind(4, NowRfc3339());
        history.bind(5, 0.0);
        history.exec();
        result.steps.push_back({id, Direction::kStamp, 0});
      }
      if (auto s = (*txn)->Commit(); !s.ok()) return s;
    } catch (const SQLite::Exception& e) {
      return store::FromException(e, "stamping");
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

  try {
    auto txn = store::WriteTransaction::Begin(*db);
    if (!txn.ok()) return txn.status();
    SQLite::Statement run(*db, kInsertRun);
    run.bind(1, static_cast<int64_t>(::getpid()));
    run.bind(2, absl::StrCat(DirectionName(direction), " ", target));
    run.bind(3, NowRfc3339());
    run.exec();
    if (auto s = (*txn)->Commit(); !s.ok()) return s;
  } catch (const SQLite::Exception& e) {
    return store::FromException(e, "marking the migration as started");
  }
  absl::Cleanup clear_marker = [&db] {
    try {
      db->exec(kDeleteRun);
    } catch (const SQLite::Exception&) {
      // Left behind, the marker is cleared by the next run that takes the
      // lock; the revision state itself is consistent either way.
    }
  };

  RevisionSet now = *applied;
  std::vector<std::string> expected = graph_.Maximal(now);
  for (const std::string& id : plan) {
    const Script* script = graph_.Find(id);
    const absl::Time start = absl::Now();
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
    absl::Status step = store::ExecScript(*db, direction == Direction::kUpgrade
                                                   ? script->upgrade_sql
                                                   : script->downgrade_sql);
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
    try {
      RecordRevision(*db, next, *script, direction, duration_ms);
    } catch (const SQLite::Exception& e) {
      return store::FromException(e, absl::StrCat("recording revision ", id));
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
  try {
    auto exists = store::TableExists(**db, kHistoryTable);
    if (!exists.ok()) return exists.status();
    if (!*exists) return out;
    SQLite::Statement q(**db, kSelectHistory);
    q.bind(1, limit);
    while (q.executeStep()) {
      out.push_back({q.getColumn(0).getString(), q.getColumn(1).getString(),
                     q.getColumn(2).getString(), q.getColumn(3).getString(),
                     q.getColumn(4).getDouble()});
    }
  } catch (const SQLite::Exception& e) {
    return store::FromException(e, "reading the migration history");
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> Migrator::Validate() const {
  std::vector<std::string> problems;
  if (!FileExists(options_.db_path)) return problems;
  store::OpenOptions open;
  open.read_only = true;
  open.busy_timeout = options_.busy_timeout;
  auto opened = store::Open(options_.db_path, open);
  if (!opened.ok()) return opened.status();
  SQLite::Database& db = **opened;
  try {
    // One snapshot for the whole check.
    SQLite::Transaction snapshot(db);
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
    SQLite::Statement checksum(db, kSelectAppliedChecksum);
    for (const std::string& id : graph_.topological_order()) {
      if (!applied.count(id)) continue;
      checksum.bind(1, id);
      if (checksum.executeStep()) {
        const std::string recorded = checksum.getColumn(0).getString();
        const Script* script = graph_.Find(id);
        if (recorded != script->checksum) {
          problems.push_back(absl::StrCat(
              "script ", script->file, " (revision ", id,
              ") was edited after it was applied: checksum ",
              script->checksum.substr(0, 12), " differs from the recorded ",
              recorded.substr(0, 12)));
        }
      }
      checksum.reset();
    }
    if (!problems.empty() && known.size() != state->current.size()) {
      return problems;  // Drift is meaningless against unknown revisions.
    }

    // Schema drift: replay the applied scripts on an empty database.
    SQLite::Database expected_db(":memory:",
                                 SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    expected_db.exec("PRAGMA foreign_keys = ON");
    for (const std::string& id : graph_.topological_order()) {
      if (!applied.count(id)) continue;
      const Script* script = graph_.Find(id);
      if (auto s = store::ExecScript(expected_db, script->upgrade_sql);
          !s.ok()) {
        problems.push_back(absl::StrCat("script ", script->file,
                                        " does not replay on an empty "
                                        "database: ",
                                        s.message()));
        return problems;
      }
    }
    auto expected = UserSchema(expected_db);
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
  } catch (const SQLite::Exception& e) {
    return store::FromException(e, "validating");
  }
  return problems;
}

}  // namespace pulse::migrate
