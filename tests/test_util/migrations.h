#ifndef PULSE_TESTS_TEST_UTIL_MIGRATIONS_H_
#define PULSE_TESTS_TEST_UTIL_MIGRATIONS_H_

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "tests/test_util/temp_dir.h"

namespace pulse::testing {

// The text of a migration script in the DESIGN.md format.
inline std::string ScriptText(absl::string_view id, absl::string_view down,
                              absl::string_view upgrade,
                              absl::string_view downgrade,
                              bool breaking = false) {
  return absl::StrCat("-- revision: ", id, "\n-- down_revision: ", down,
                      "\n-- description: test revision ", id, "\n",
                      breaking ? "-- breaking: true\n" : "", "-- +upgrade\n",
                      upgrade, "\n-- +downgrade\n", downgrade, "\n");
}

// Writes a script named "<id>.sql" into `dir`.
inline void AddScript(const std::string& dir, absl::string_view id,
                      absl::string_view down, absl::string_view upgrade,
                      absl::string_view downgrade, bool breaking = false) {
  WriteFile(absl::StrCat(dir, "/", id, ".sql"),
            ScriptText(id, down, upgrade, downgrade, breaking));
}

// The project's own migrations directory.
inline std::string ProjectMigrations() {
  return absl::StrCat(PULSE_SOURCE_DIR, "/migrations");
}

}  // namespace pulse::testing

#endif  // PULSE_TESTS_TEST_UTIL_MIGRATIONS_H_
