// pulse-schema's command line: the schema service and the operators'
// commands.
//
//   pulse-schema serve --db=PATH --migrations=DIR --listen=HOST:PORT
//   pulse-schema upgrade|downgrade TARGET [--sql]
//   pulse-schema stamp TARGET
//   pulse-schema current | heads | history | log | validate | lint
//   pulse-schema new -m "message" | merge -m "message"
//
// Every flag falls back to the environment variable PULSE_<FLAG>.

#include "services/schema/cli.h"

#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "libs/common/env_flags.h"
#include "libs/common/grpc_util.h"
#include "libs/common/log.h"
#include "libs/common/server_flags.h"
#include "libs/common/signals.h"
#include "libs/migrate/authoring.h"
#include "libs/migrate/file_lock.h"
#include "libs/migrate/lint.h"
#include "libs/migrate/migrator.h"
#include "libs/store/change_log.h"
#include "libs/store/path.h"
#include "libs/store/store.h"
#include "libs/write/integrity.h"
#include "services/schema/server.h"

ABSL_FLAG(std::string, db, "pulse.db",
          "Path of the SQLite database file. Environment: PULSE_DB.");
ABSL_FLAG(std::string, migrations, "migrations",
          "Directory of the migration scripts (*.sql). Environment: "
          "PULSE_MIGRATIONS.");
ABSL_FLAG(std::string, listen, "127.0.0.1:50051",
          "Address the server listens on, host:port; port 0 picks a free "
          "port. Environment: PULSE_LISTEN.");
ABSL_FLAG(std::string, from, "",
          "With restore: the backup file to put back into the database.");
ABSL_FLAG(std::string, to, "",
          "With backup: the file to write the copy to; it must not exist.");
ABSL_FLAG(std::string, admin_token, "",
          "Token that mutating RPCs must present as 'authorization: Bearer "
          "TOKEN'; empty disables them. Environment: PULSE_ADMIN_TOKEN.");
ABSL_FLAG(std::string, upgrade_on_start, "",
          "With serve: migrate to this target (e.g. head) before serving. "
          "Environment: PULSE_UPGRADE_ON_START.");
ABSL_FLAG(absl::Duration, lock_timeout, absl::Seconds(30),
          "How long a migration waits for another one to finish before "
          "giving up. Environment: PULSE_LOCK_TIMEOUT.");
ABSL_FLAG(bool, sql, false,
          "With upgrade or downgrade: print the SQL that would run and change "
          "nothing (offline mode).");
ABSL_FLAG(bool, allow_data_loss, false,
          "With upgrade or downgrade: let steps run that drop a table holding "
          "rows or a column holding values (a backup is written before each).");
ABSL_FLAG(bool, backup, false,
          "With upgrade or downgrade: write a backup of the database before "
          "the first step.");
ABSL_FLAG(std::string, message, "",
          "With new or merge: the revision's one-line description (-m).");

namespace {

constexpr char kUsage[] =
    "pulse-schema COMMAND [ARGS] [FLAGS]\n\n"
    "Commands:\n"
    "  serve                 run the gRPC schema service\n"
    "  upgrade TARGET        apply revisions up to TARGET (--sql: print only)\n"
    "  downgrade TARGET      revert revisions down to TARGET (--sql: print)\n"
    "                        Steps that drop data need --allow_data_loss;\n"
    "                        --backup writes a backup before the first step\n"
    "  stamp TARGET          record TARGET as current without running SQL\n"
    "  current               print the database's current revision(s)\n"
    "  heads                 print the head revision(s) of the scripts\n"
    "  history               print the revision graph, newest first\n"
    "  log                   print the applied-migration log, newest first\n"
    "  validate              check checksums, schema drift, references and\n"
    "                        the subtree index (exit 1 if bad)\n"
    "  repair-index          rebuild the subtree index from manager_id\n"
    "  lint                  check the scripts for destructive or\n"
    "                        incompatible changes (exit 1 on errors)\n"
    "  backup --to=FILE      a consistent copy of the database, taken while\n"
    "                        the services serve\n"
    "  restore --from=FILE   put a backup back into the live database (the\n"
    "                        services follow it; no restart)\n"
    "  new -m MESSAGE        write a new revision script on the head\n"
    "  merge -m MESSAGE      write a revision merging all heads\n\n"
    "TARGET: head, heads, base, +N, -N, a revision id or a unique prefix.";

int Fail(const absl::Status& status) {
  return pulse::FailCommand("pulse-schema", status);
}

std::string Describe(const std::vector<std::string>& revisions) {
  return revisions.empty() ? "base" : absl::StrJoin(revisions, ", ");
}

// After a restore, under the migration lock: a run marker in the copy is
// from the run that wrote it (a backup taken between steps), not from a
// run now; readers must not take the restored paths for those they
// checked; and change tokens given out since the backup must not resume.
absl::Status AfterRestore(const std::string& db_path) {
  pulse::store::OpenOptions open;
  open.create = false;
  auto db = pulse::store::Open(db_path, open);
  if (!db.ok()) return db.status();
  auto marker = pulse::store::TableExists(**db, pulse::migrate::kRunTable);
  if (!marker.ok()) return marker.status();
  absl::Status s = *marker ? (*db)->Exec("DELETE FROM pulse_migration_run")
                           : absl::OkStatus();
  if (s.ok()) s = pulse::store::ReplacePathGeneration(**db);
  // Tokens given out since the backup must not resume into its history.
  if (s.ok()) s = pulse::store::ReplaceChangeLogEpoch(**db);
  return pulse::store::WithContext(s, "after the restore");
}

int Serve() {
  // Before any thread starts (see ServeUntilSignal).
  pulse::BlockTerminationSignals();
  pulse::schema::Server::Options options;
  options.listen_address = absl::GetFlag(FLAGS_listen);
  options.db_path = absl::GetFlag(FLAGS_db);
  options.migrations_dir = absl::GetFlag(FLAGS_migrations);
  options.admin_token = absl::GetFlag(FLAGS_admin_token);
  if (absl::Status s =
          pulse::CheckAdminTokenStrength(absl::GetFlag(FLAGS_admin_token));
      !s.ok()) {
    Fail(s);
    return 2;
  }
  options.upgrade_on_start = absl::GetFlag(FLAGS_upgrade_on_start);
  options.lock_timeout = absl::GetFlag(FLAGS_lock_timeout);
  auto credentials = pulse::ServerCredentialsFromFlags();
  if (!credentials.ok()) return Fail(credentials.status());
  options.credentials = *credentials;
  pulse::schema::Server server;
  if (absl::Status s = server.BuildAndStart(options); !s.ok()) return Fail(s);
  pulse::LogLine(absl::StrCat("pulse-schema serving ", options.db_path,
                              " on port ", server.port(), " (",
                              options.listen_address, ")"));
  pulse::ServeUntilSignal([&](absl::Duration grace) { server.Shutdown(grace); },
                          [&] { server.Wait(); },
                          absl::GetFlag(FLAGS_shutdown_grace));
  pulse::LogLine("pulse-schema stopped");
  return 0;
}

int RunCommand(const std::vector<std::string>& args) {
  const std::string& command = args[0];
  auto want_args = [&](size_t n) -> bool {
    if (args.size() == n + 1) return true;
    std::fprintf(stderr, "pulse-schema: %s takes %zu argument(s); see --help\n",
                 command.c_str(), n);
    return false;
  };
  if (command == "serve") {
    if (!want_args(0)) return 2;
    return Serve();
  }
  // The database's own commands: they need no scripts.
  if (command == "backup") {
    if (!want_args(0)) return 2;
    const std::string to = absl::GetFlag(FLAGS_to);
    if (to.empty()) {
      std::fprintf(stderr, "pulse-schema: backup needs --to=FILE\n");
      return 2;
    }
    auto pages = pulse::store::Backup(absl::GetFlag(FLAGS_db), to);
    if (!pages.ok()) return Fail(pages.status());
    std::printf("backed up %s to %s (%lld pages)\n",
                absl::GetFlag(FLAGS_db).c_str(), to.c_str(),
                static_cast<long long>(*pages));
    return 0;
  }
  if (command == "restore") {
    if (!want_args(0)) return 2;
    const std::string from = absl::GetFlag(FLAGS_from);
    if (from.empty()) {
      std::fprintf(stderr, "pulse-schema: restore needs --from=FILE\n");
      return 2;
    }
    // No migration may run while the schema is replaced under it.
    auto lock = pulse::migrate::FileLock::Acquire(
        pulse::migrate::MigrationLockPath(absl::GetFlag(FLAGS_db)),
        absl::GetFlag(FLAGS_lock_timeout));
    if (!lock.ok()) return Fail(lock.status());
    auto pages = pulse::store::RestoreInto(absl::GetFlag(FLAGS_db), from);
    if (!pages.ok()) return Fail(pages.status());
    if (absl::Status s = AfterRestore(absl::GetFlag(FLAGS_db)); !s.ok()) {
      return Fail(s);
    }
    std::printf("restored %s into %s (%lld pages)\n", from.c_str(),
                absl::GetFlag(FLAGS_db).c_str(),
                static_cast<long long>(*pages));
    return 0;
  }
  if (command == "repair-index") {
    if (!want_args(0)) return 2;
    pulse::store::OpenOptions open;
    open.create = false;
    auto db = pulse::store::Open(absl::GetFlag(FLAGS_db), open);
    if (!db.ok()) return Fail(db.status());
    auto changed = pulse::write::RepairIndex(**db);
    if (!changed.ok()) return Fail(changed.status());
    std::printf("subtree index rebuilt: %lld path(s) changed\n",
                static_cast<long long>(*changed));
    return 0;
  }
  pulse::migrate::MigratorOptions options;
  options.db_path = absl::GetFlag(FLAGS_db);
  options.lock_timeout = absl::GetFlag(FLAGS_lock_timeout);
  const std::string dir = absl::GetFlag(FLAGS_migrations);
  auto migrator = pulse::migrate::Migrator::Create(dir, options);
  if (!migrator.ok()) return Fail(migrator.status());
  pulse::migrate::Migrator& m = **migrator;
  const pulse::migrate::RevisionGraph& graph = m.graph();

  if (command == "upgrade" || command == "downgrade") {
    if (!want_args(1)) return 2;
    pulse::migrate::RunOptions run;
    run.sql_only = absl::GetFlag(FLAGS_sql);
    run.allow_data_loss = absl::GetFlag(FLAGS_allow_data_loss);
    run.backup = absl::GetFlag(FLAGS_backup);
    auto result = command == "upgrade" ? m.Upgrade(args[1], run)
                                       : m.Downgrade(args[1], run);
    if (!result.ok()) return Fail(result.status());
    if (run.sql_only) {
      std::fputs(result->sql.c_str(), stdout);
      return 0;
    }
    for (const std::string& backup : result->backups) {
      std::printf(
          "backup written: %s (pulse-schema restore --from=%s puts "
          "it back)\n",
          backup.c_str(), backup.c_str());
    }
    for (const auto& step : result->steps) {
      const auto* script = graph.Find(step.revision);
      std::printf("%s %s (%s) in %.1f ms\n",
                  pulse::migrate::DirectionName(step.direction),
                  step.revision.c_str(), script->description.c_str(),
                  step.duration_ms);
    }
    std::printf("now at %s\n", Describe(result->state.current).c_str());
    return 0;
  }
  if (command == "stamp") {
    if (!want_args(1)) return 2;
    auto result = m.Stamp(args[1]);
    if (!result.ok()) return Fail(result.status());
    std::printf("stamped; now at %s\n",
                Describe(result->state.current).c_str());
    return 0;
  }
  if (command == "current") {
    if (!want_args(0)) return 2;
    auto state = m.GetState();
    if (!state.ok()) return Fail(state.status());
    if (state->current.empty()) std::printf("base\n");
    for (const std::string& id : state->current) {
      const auto* script = graph.Find(id);
      const bool head = script != nullptr && graph.Children(id).empty();
      std::printf("%s%s%s\n", id.c_str(), head ? " (head)" : "",
                  script == nullptr ? " (unknown to these scripts)" : "");
    }
    if (state->migration_in_progress) {
      std::printf("migration in progress: %s\n",
                  state->migration_target.c_str());
    }
    return 0;
  }
  if (command == "heads") {
    if (!want_args(0)) return 2;
    for (const std::string& id : graph.heads()) {
      std::printf("%s (head) %s\n", id.c_str(),
                  graph.Find(id)->description.c_str());
    }
    return 0;
  }
  if (command == "history") {
    if (!want_args(0)) return 2;
    auto state = m.GetState();
    if (!state.ok()) return Fail(state.status());
    const auto applied = graph.Closure(state->current);
    const auto& order = graph.topological_order();
    for (auto it = order.rbegin(); it != order.rend(); ++it) {
      const auto* script = graph.Find(*it);
      std::vector<std::string> marks;
      if (graph.Children(*it).empty()) marks.push_back("head");
      if (graph.Children(*it).size() > 1) marks.push_back("branchpoint");
      if (script->down_revisions.size() > 1) marks.push_back("mergepoint");
      if (std::find(state->current.begin(), state->current.end(), *it) !=
          state->current.end()) {
        marks.push_back("current");
      } else if (applied.count(*it)) {
        marks.push_back("applied");
      }
      if (script->breaking) marks.push_back("breaking");
      std::printf(
          "%s -> %s%s, %s\n",
          script->down_revisions.empty()
              ? "<base>"
              : absl::StrJoin(script->down_revisions, ", ").c_str(),
          it->c_str(),
          marks.empty()
              ? ""
              : absl::StrCat(" (", absl::StrJoin(marks, ", "), ")").c_str(),
          script->description.c_str());
    }
    return 0;
  }
  if (command == "log") {
    if (!want_args(0)) return 2;
    auto history = m.History(1000);
    if (!history.ok()) return Fail(history.status());
    for (const auto& e : *history) {
      std::printf("%s %-9s %s %.1f ms checksum %s\n", e.applied_at.c_str(),
                  e.direction.c_str(), e.revision.c_str(), e.duration_ms,
                  e.checksum.substr(0, 12).c_str());
    }
    return 0;
  }
  if (command == "validate") {
    if (!want_args(0)) return 2;
    auto problems = m.Validate();
    if (!problems.ok()) return Fail(problems.status());
    // The data too, when the file exists: references and the subtree index.
    if (access(absl::GetFlag(FLAGS_db).c_str(), F_OK) == 0) {
      pulse::store::OpenOptions open;
      open.read_only = true;
      auto db = pulse::store::Open(absl::GetFlag(FLAGS_db), open);
      if (!db.ok()) return Fail(db.status());
      auto data = pulse::write::CheckData(**db);
      if (!data.ok()) return Fail(data.status());
      problems->insert(problems->end(), data->begin(), data->end());
    }
    if (problems->empty()) {
      std::printf("ok\n");
      return 0;
    }
    for (const std::string& p : *problems) std::printf("%s\n", p.c_str());
    std::fprintf(stderr, "pulse-schema: validate found %zu problem(s)\n",
                 problems->size());
    return 1;
  }
  if (command == "lint") {
    if (!want_args(0)) return 2;
    auto findings = pulse::migrate::Lint(graph);
    if (!findings.ok()) return Fail(findings.status());
    for (const auto& finding : *findings) {
      std::printf("%s\n", pulse::migrate::FormatFinding(finding).c_str());
    }
    if (pulse::migrate::HasErrors(*findings)) {
      std::fprintf(stderr, "pulse-schema: lint found errors in %s\n",
                   dir.c_str());
      return 1;
    }
    std::printf("lint: %zu warning(s), no errors\n", findings->size());
    return 0;
  }
  if (command == "new" || command == "merge") {
    if (!want_args(0)) return 2;
    const std::string message = absl::GetFlag(FLAGS_message);
    auto path = command == "new"
                    ? pulse::migrate::WriteNewRevision(dir, graph, message)
                    : pulse::migrate::WriteMergeRevision(dir, graph, message);
    if (!path.ok()) return Fail(path.status());
    std::printf("%s\n", path->c_str());
    return 0;
  }
  std::fprintf(stderr, "pulse-schema: unknown command '%s'; see --help\n",
               command.c_str());
  return 2;
}

}  // namespace

namespace pulse::schema {

int RunCli(int argc, char** argv) {
  store::ConfigureSqliteForServers();
  const std::vector<std::string> args =
      StartServerBinary(argc, argv, kUsage,
                        {"db", "migrations", "listen", "admin_token",
                         "upgrade_on_start", "lock_timeout"});
  if (args.empty()) {
    std::fprintf(stderr, "%s\n", kUsage);
    return 2;
  }
  return RunCommand(args);
}

}  // namespace pulse::schema
