#ifndef PULSE_TESTS_TEST_UTIL_SEEDED_DB_H_
#define PULSE_TESTS_TEST_UTIL_SEEDED_DB_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "libs/migrate/migrator.h"
#include "libs/seed/seed.h"
#include "tests/test_util/migrations.h"

namespace pulse::testing {

// A new database at `db_path`, migrated to head with the project's
// migrations and seeded with `employees` synthetic people. (Tests that
// include this link pulse_migrate and pulse_seed.)
inline absl::Status MigrateAndSeed(const std::string& db_path,
                                   int64_t employees) {
  migrate::MigratorOptions options;
  options.db_path = db_path;
  auto migrator = migrate::Migrator::Create(ProjectMigrations(), options);
  if (!migrator.ok()) return migrator.status();
  if (auto upgraded = (*migrator)->Upgrade("head"); !upgraded.ok()) {
    return upgraded.status();
  }
  seed::SeedOptions seed;
  seed.employees = employees;
  return seed::SeedOrganisation(db_path, seed).status();
}

}  // namespace pulse::testing

#endif  // PULSE_TESTS_TEST_UTIL_SEEDED_DB_H_
