#ifndef PULSE_LIBS_MIGRATE_MIGRATOR_H_
#define PULSE_LIBS_MIGRATE_MIGRATOR_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "libs/migrate/graph.h"
#include "libs/store/pool.h"

namespace pulse::migrate {

// The bookkeeping tables the migrator keeps inside the database.
inline constexpr char kVersionTable[] = "pulse_version";
inline constexpr char kHistoryTable[] = "pulse_migration_history";
inline constexpr char kRunTable[] = "pulse_migration_run";
// Every revision the migrator has seen: id, comma-separated parents, the
// breaking flag. Lets readers walk the graph without the scripts.
inline constexpr char kGraphTable[] = "pulse_revision_graph";

enum class Direction { kUpgrade, kDowngrade, kStamp };
const char* DirectionName(Direction direction);

// What the database records about its schema revision.
struct RevisionState {
  // The current revisions, sorted; empty at base.
  std::vector<std::string> current;
  // True while a migration run holds the database (between its first and
  // last revision). Each revision still commits atomically.
  bool migration_in_progress = false;
  std::string migration_target;
  // The newest history row's id: grows with every step, stamp included, so
  // two reads of the same revisions tell whether anything ran in between.
  int64_t history_sequence = 0;
};

// Reads the revision state through `db`, in whatever transaction is open
// (so a caller can read it in the same snapshot as its data). A database
// with no bookkeeping tables is at base.
absl::StatusOr<RevisionState> ReadRevisionState(store::Database& db);
// The same through a pooled connection, reusing its prepared statements
// (the org-data service reads it on every request).
absl::StatusOr<RevisionState> ReadRevisionState(store::Connection& connection);

struct StepResult {
  std::string revision;
  Direction direction;
  double duration_ms = 0;
};

struct MigrationResult {
  std::vector<StepResult> steps;
  // The backups written before steps (see RunOptions), in order.
  std::vector<std::string> backups;
  // Offline mode only: the SQL that would run.
  std::string sql;
  RevisionState state;
};

struct HistoryEntry {
  std::string revision;
  std::string direction;
  std::string checksum;
  std::string applied_at;  // RFC 3339, UTC.
  double duration_ms = 0;
};

struct MigratorOptions {
  // The SQLite database file. Created by Upgrade and Stamp when missing.
  std::string db_path;
  // How long to wait for another migration's lock before ABORTED.
  absl::Duration lock_timeout = absl::Seconds(30);
  absl::Duration busy_timeout = absl::Seconds(5);
};

// How one upgrade or downgrade runs.
struct RunOptions {
  // Change nothing: the result carries the SQL that would run.
  bool sql_only = false;
  // Let steps run that drop a table holding rows or a column holding
  // values, or rebuild a table into fewer rows. Without it such a run is
  // refused before its first step. A backup is written before each such
  // step.
  bool allow_data_loss = false;
  // A backup before the run's first step.
  bool backup = false;
};

// Where a backup of `db_path` at `revisions`, taken now, is written:
// "<db>.<revisions or base>.<UTC time>.bak".
std::string BackupPath(const std::string& db_path,
                       const std::vector<std::string>& revisions);

// Applies the scripts of a revision graph to one database, as Alembic does.
//
// Targets: "head" (the single head; INVALID_ARGUMENT when there are
// several), "heads", "base", "+N" / "-N" (N revisions up or down), a
// revision id or a unique prefix of one.
//
// Every revision runs in its own write transaction together with the
// update of pulse_version and a pulse_migration_history row, so a failure
// leaves the database at the previous revision. Runs are serialised across
// processes by an flock on "<db_path>.migrate.lock"; the plan is made after
// the lock is taken and each step re-checks the state in its transaction,
// so no revision is applied twice.
//
// Thread-safe: every call opens its own connection.
class Migrator {
 public:
  // Loads the scripts of `migrations_dir`; the errors of LoadScripts and
  // RevisionGraph::Build.
  static absl::StatusOr<std::unique_ptr<Migrator>> Create(
      const std::string& migrations_dir, MigratorOptions options);
  Migrator(RevisionGraph graph, MigratorOptions options);
  Migrator(const Migrator&) = delete;
  Migrator& operator=(const Migrator&) = delete;

  const RevisionGraph& graph() const { return graph_; }
  const MigratorOptions& options() const { return options_; }

  // The state; base when the file does not exist yet (nothing is created).
  absl::StatusOr<RevisionState> GetState() const;

  // INVALID_ARGUMENT for a bad target or one in the wrong direction;
  // FAILED_PRECONDITION when the database is at a revision no script
  // defines, or a script fails (the message names the file and the
  // statement), or when the run would lose data without
  // `allow_data_loss` (the message names each table and column and what
  // it holds; nothing was changed); ABORTED when the lock is not had in
  // time; UNAVAILABLE when the database is busy. With `sql_only` nothing
  // is opened for writing and the result carries the SQL instead.
  //
  // A script marked "-- foreign_keys: off" runs with foreign keys off
  // (turned off before its transaction, on again after, whatever
  // happens); PRAGMA foreign_key_check runs before it commits and any
  // violation rolls it back, naming the rows.
  absl::StatusOr<MigrationResult> Upgrade(absl::string_view target,
                                          const RunOptions& run = {});
  absl::StatusOr<MigrationResult> Downgrade(absl::string_view target,
                                            const RunOptions& run = {});
  // Records `target` as current without running migration SQL.
  absl::StatusOr<MigrationResult> Stamp(absl::string_view target);

  // The newest `limit` history rows, newest first.
  absl::StatusOr<std::vector<HistoryEntry>> History(int limit) const;

  // Problems found, one sentence each; empty when all is well: revisions
  // recorded in the database that no script defines, scripts whose checksum
  // differs from the one recorded when they were applied, and schema drift
  // (the live schema differing from what the applied scripts produce on an
  // empty database), and lint's errors in the scripts. An error status
  // only when the check itself fails.
  absl::StatusOr<std::vector<std::string>> Validate() const;

 private:
  absl::StatusOr<MigrationResult> Run(Direction direction,
                                      absl::string_view target,
                                      const RunOptions& run);
  // The applied set a target asks for, from the applied set now.
  absl::StatusOr<RevisionSet> Desired(Direction direction,
                                      absl::string_view target,
                                      const RevisionSet& applied) const;
  absl::StatusOr<RevisionSet> AppliedSet(const RevisionState& state) const;

  RevisionGraph graph_;
  MigratorOptions options_;
};

}  // namespace pulse::migrate

#endif  // PULSE_LIBS_MIGRATE_MIGRATOR_H_
