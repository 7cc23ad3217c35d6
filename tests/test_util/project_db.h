#ifndef PULSE_TESTS_TEST_UTIL_PROJECT_DB_H_
#define PULSE_TESTS_TEST_UTIL_PROJECT_DB_H_

#include <memory>
#include <string>

#include "SQLiteCpp/SQLiteCpp.h"
#include "absl/status/status.h"
#include "libs/migrate/migrator.h"
#include "tests/test_util/migrations.h"

namespace pulse::testing {

// Creates (or brings up) the database at `path` at the project's head
// revision, through the real migrator.
inline absl::Status MigrateToHead(const std::string& path) {
  migrate::MigratorOptions options;
  options.db_path = path;
  auto m = migrate::Migrator::Create(ProjectMigrations(), options);
  if (!m.ok()) return m.status();
  auto result = (*m)->Upgrade("head");
  return result.ok() ? absl::OkStatus() : result.status();
}

// A connection for a test's own SQL through SQLiteCpp (whose exceptions
// fail the test): foreign keys on, waiting up to 5 s for locks, as the
// services' connections do.
inline std::unique_ptr<SQLite::Database> OpenSqlite(const std::string& path) {
  auto db = std::make_unique<SQLite::Database>(
      path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE, 5000);
  db->exec("PRAGMA foreign_keys = ON");
  return db;
}

}  // namespace pulse::testing

#endif  // PULSE_TESTS_TEST_UTIL_PROJECT_DB_H_
