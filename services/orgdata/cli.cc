// pulse-orgdata: the org-data service, and the synthetic-organisation
// seeder.
//
//   pulse-orgdata serve --db=PATH --listen=HOST:PORT [--schema_addr=HOST:PORT]
//   pulse-orgdata seed --db=PATH --employees=N [--seed=S]
//   pulse-orgdata import --db=PATH --file=F [--format=csv|jsonl]
//       [--departments=F] [--mode=merge|replace] [--dry_run]
//   pulse-orgdata export --db=PATH [--format=csv|jsonl] [--departments=F]
//
// Every flag falls back to the environment variable PULSE_<FLAG>.

#include "services/orgdata/cli.h"

#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "libs/common/env_flags.h"
#include "libs/common/grpc_util.h"
#include "libs/common/log.h"
#include "libs/common/server_flags.h"
#include "libs/common/signals.h"
#include "libs/seed/seed.h"
#include "libs/store/store.h"
#include "services/orgdata/io_commands.h"
#include "services/orgdata/server.h"

ABSL_FLAG(std::string, db, "pulse.db",
          "Path of the SQLite database file; serve opens it read-only. "
          "Environment: PULSE_DB.");
ABSL_FLAG(std::string, migrations, "",
          "Directory of the migration scripts, used to place revisions the "
          "database does not describe itself; optional. Environment: "
          "PULSE_MIGRATIONS.");
ABSL_FLAG(std::string, listen, "127.0.0.1:50052",
          "Address the server listens on, host:port; port 0 picks a free "
          "port. Environment: PULSE_LISTEN.");
ABSL_FLAG(std::string, schema_addr, "",
          "The schema service (host:port) whose WatchRevision tells this "
          "service of migrations at once; empty: rely on polling. "
          "Environment: PULSE_SCHEMA_ADDR.");
ABSL_FLAG(std::string, required_revision, pulse::orgdata::kRequiredRevision,
          "The schema revision this service reads; it accepts it and its "
          "non-breaking descendants. Environment: PULSE_REQUIRED_REVISION.");
ABSL_FLAG(absl::Duration, poll_interval, absl::Seconds(1),
          "How often the revision gate is re-checked against the database "
          "without news from the schema service. Environment: "
          "PULSE_POLL_INTERVAL.");
ABSL_FLAG(std::string, schema_ca, "",
          "With serve: PEM certificates to trust for a TLS schema service; "
          "empty means plaintext. Environment: PULSE_SCHEMA_CA.");
ABSL_FLAG(int, chunk_nodes, 1024,
          "Nodes per subtree message after the first (which has 64). "
          "Environment: PULSE_CHUNK_NODES.");
ABSL_FLAG(int, max_streams, 256,
          "Subtree streams holding a read snapshot at once; more get "
          "RESOURCE_EXHAUSTED. "
          "Environment: PULSE_MAX_STREAMS.");
ABSL_FLAG(absl::Duration, max_snapshot_age, absl::Seconds(60),
          "Longest a subtree stream may hold its read snapshot; past it the "
          "stream ends ABORTED (a client that stops reading would hold back "
          "the database's checkpoints). Environment: PULSE_MAX_SNAPSHOT_AGE.");
ABSL_FLAG(int, max_unary_calls, 64,
          "Unary calls and Import streams answered at once; more get "
          "RESOURCE_EXHAUSTED. Environment: PULSE_MAX_UNARY_CALLS.");
ABSL_FLAG(absl::Duration, change_retention, absl::Hours(24 * 7),
          "How long the change log keeps changes for WatchChanges; older "
          "tokens get OUT_OF_RANGE. Environment: PULSE_CHANGE_RETENTION.");
ABSL_FLAG(int64_t, change_log_max_rows, 10000000,
          "The most changes the log keeps (the oldest are pruned first). "
          "Environment: PULSE_CHANGE_LOG_MAX_ROWS.");
ABSL_FLAG(absl::Duration, watch_checkpoint_interval, absl::Seconds(10),
          "A watcher with nothing to send gets a checkpoint this often. "
          "Environment: PULSE_WATCH_CHECKPOINT_INTERVAL.");
ABSL_FLAG(std::string, admin_token, "",
          "With serve: the bearer token that ApplyChanges and Import need "
          "(authorization: Bearer TOKEN); empty refuses every write. "
          "Environment: PULSE_ADMIN_TOKEN.");
ABSL_FLAG(std::string, file, "",
          "With import: the employees file (CSV with a header row, or JSON "
          "Lines). Environment: PULSE_FILE.");
ABSL_FLAG(std::string, format, "",
          "With import: csv or jsonl (default: from the file's extension); "
          "with export: csv (default) or jsonl. Environment: PULSE_FORMAT.");
ABSL_FLAG(std::string, departments, "",
          "With import: a departments file (name, parent, head_employee_id) "
          "to read; with export: one to write. Environment: "
          "PULSE_DEPARTMENTS.");
ABSL_FLAG(std::string, mode, "merge",
          "With import: merge (insert or update the listed employees) or "
          "replace (the file is the whole organisation; others are "
          "deleted). Environment: PULSE_MODE.");
ABSL_FLAG(bool, dry_run, false,
          "With import: validate and print what would change, writing "
          "nothing. Environment: PULSE_DRY_RUN.");
ABSL_FLAG(int64_t, employees, 1000,
          "With seed: how many employees the synthetic organisation has. "
          "Environment: PULSE_EMPLOYEES.");
ABSL_FLAG(bool, if_empty, false,
          "With seed: do nothing, successfully, when the database already "
          "holds an organisation. Environment: PULSE_IF_EMPTY.");
ABSL_FLAG(uint64_t, seed, 1,
          "With seed: the random seed; the same seed gives the same "
          "organisation. Environment: PULSE_SEED.");

namespace {

constexpr char kUsage[] =
    "pulse-orgdata COMMAND [FLAGS]\n\n"
    "Commands:\n"
    "  serve   run the gRPC org-data service\n"
    "  seed    fill a migrated, empty database with a synthetic organisation\n"
    "  import  load employees from a CSV or JSON Lines file, all or nothing\n"
    "  export  write the organisation to stdout as CSV or JSON Lines";

int Fail(const absl::Status& status) {
  return pulse::FailCommand("pulse-orgdata", status);
}

int Serve() {
  pulse::BlockTerminationSignals();
  pulse::orgdata::Server::Options options;
  options.listen_address = absl::GetFlag(FLAGS_listen);
  options.db_path = absl::GetFlag(FLAGS_db);
  options.migrations_dir = absl::GetFlag(FLAGS_migrations);
  options.schema_address = absl::GetFlag(FLAGS_schema_addr);
  options.required_revision = absl::GetFlag(FLAGS_required_revision);
  options.poll_interval = absl::GetFlag(FLAGS_poll_interval);
  options.service.max_streams = absl::GetFlag(FLAGS_max_streams);
  options.service.chunk_nodes = absl::GetFlag(FLAGS_chunk_nodes);
  options.service.max_snapshot_age = absl::GetFlag(FLAGS_max_snapshot_age);
  options.service.max_unary_calls = absl::GetFlag(FLAGS_max_unary_calls);
  options.service.feed.retention = absl::GetFlag(FLAGS_change_retention);
  options.service.feed.max_rows = absl::GetFlag(FLAGS_change_log_max_rows);
  options.service.feed.checkpoint_interval =
      absl::GetFlag(FLAGS_watch_checkpoint_interval);
  if (options.service.max_snapshot_age <= absl::ZeroDuration() ||
      options.service.max_unary_calls < 1 ||
      options.service.feed.retention <= absl::ZeroDuration() ||
      options.service.feed.max_rows < 1 ||
      options.service.feed.checkpoint_interval <= absl::ZeroDuration()) {
    Fail(absl::InvalidArgumentError(
        "--max_snapshot_age, --max_unary_calls, --change_retention, "
        "--change_log_max_rows and --watch_checkpoint_interval must be "
        "positive"));
    return 2;
  }
  options.service.admin_token = absl::GetFlag(FLAGS_admin_token);
  if (absl::Status s =
          pulse::CheckAdminTokenStrength(absl::GetFlag(FLAGS_admin_token));
      !s.ok()) {
    Fail(s);
    return 2;
  }
  if (options.service.chunk_nodes < 1 || options.service.chunk_nodes > 16384) {
    return Fail(absl::InvalidArgumentError(
        "--chunk_nodes must be between 1 and 16384"));
  }
  auto credentials = pulse::ServerCredentialsFromFlags();
  if (!credentials.ok()) return Fail(credentials.status());
  options.credentials = *credentials;
  auto schema_credentials =
      pulse::MakeChannelCredentials(absl::GetFlag(FLAGS_schema_ca));
  if (!schema_credentials.ok()) return Fail(schema_credentials.status());
  options.schema_credentials = *schema_credentials;
  pulse::orgdata::Server server;
  if (absl::Status s = server.BuildAndStart(options); !s.ok()) return Fail(s);
  pulse::LogLine(absl::StrCat("pulse-orgdata serving ", options.db_path,
                              " on port ", server.port(), " (",
                              options.listen_address, "), needs revision ",
                              options.required_revision));
  pulse::ServeUntilSignal([&](absl::Duration grace) { server.Shutdown(grace); },
                          [&] { server.Wait(); },
                          absl::GetFlag(FLAGS_shutdown_grace));
  pulse::LogLine("pulse-orgdata stopped");
  return 0;
}

int Seed() {
  pulse::seed::SeedOptions options;
  options.employees = absl::GetFlag(FLAGS_employees);
  options.seed = absl::GetFlag(FLAGS_seed);
  options.if_empty = absl::GetFlag(FLAGS_if_empty);
  const absl::Time start = absl::Now();
  auto stats = pulse::seed::SeedOrganisation(absl::GetFlag(FLAGS_db), options);
  if (!stats.ok()) return Fail(stats.status());
  if (stats->employees == 0) {
    std::printf("the database already holds an organisation; not seeding\n");
    return 0;
  }
  std::printf(
      "seeded %lld employees in %lld departments, %d levels deep, in "
      "%.2f s\n",
      static_cast<long long>(stats->employees),
      static_cast<long long>(stats->departments), stats->max_depth + 1,
      absl::ToDoubleSeconds(absl::Now() - start));
  return 0;
}

int Main(int argc, char** argv) {
  pulse::store::ConfigureSqliteForServers();
  const std::vector<std::string> args =
      pulse::StartServerBinary(argc, argv, kUsage,
                               {"db",
                                "migrations",
                                "listen",
                                "schema_addr",
                                "required_revision",
                                "poll_interval",
                                "max_streams",
                                "chunk_nodes",
                                "schema_ca",
                                "employees",
                                "seed",
                                "if_empty",
                                "admin_token",
                                "max_snapshot_age",
                                "max_unary_calls",
                                "change_retention",
                                "change_log_max_rows",
                                "watch_checkpoint_interval",
                                "file",
                                "format",
                                "departments",
                                "mode",
                                "dry_run"});
  if (args.size() != 1) {
    std::fprintf(stderr, "%s\n", kUsage);
    return 2;
  }
  if (args[0] == "serve") return Serve();
  if (args[0] == "seed") return Seed();
  if (args[0] == "import") {
    return pulse::orgdata::RunImport(
        {absl::GetFlag(FLAGS_db), absl::GetFlag(FLAGS_file),
         absl::GetFlag(FLAGS_format), absl::GetFlag(FLAGS_departments),
         absl::GetFlag(FLAGS_mode), absl::GetFlag(FLAGS_dry_run)});
  }
  if (args[0] == "export") {
    const std::string format = absl::GetFlag(FLAGS_format);
    return pulse::orgdata::RunExport({absl::GetFlag(FLAGS_db),
                                      format.empty() ? "csv" : format,
                                      absl::GetFlag(FLAGS_departments)});
  }
  std::fprintf(stderr, "pulse-orgdata: unknown command '%s'; see --help\n",
               args[0].c_str());
  return 2;
}

}  // namespace

namespace pulse::orgdata {

int RunCli(int argc, char** argv) { return Main(argc, argv); }

}  // namespace pulse::orgdata
