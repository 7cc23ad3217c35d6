#ifndef PULSE_TESTS_TEST_UTIL_PROJECT_DB_H_
#define PULSE_TESTS_TEST_UTIL_PROJECT_DB_H_

#include <string>

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

}  // namespace pulse::testing

#endif  // PULSE_TESTS_TEST_UTIL_PROJECT_DB_H_
