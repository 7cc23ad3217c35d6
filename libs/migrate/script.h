#ifndef PULSE_LIBS_MIGRATE_SCRIPT_H_
#define PULSE_LIBS_MIGRATE_SCRIPT_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace pulse::migrate {

// One migration script. The file format (DESIGN.md, "Migrations"):
//
//   -- revision: 6b1f0c2a9d41
//   -- down_revision: 2e7c55a0f3b8     ("none" for a base; "a, b" merges)
//   -- description: add notes to employees
//   -- breaking: true                  (optional, default false)
//   -- foreign_keys: off               (optional, default on)
//   -- nolint: check_added             (optional: lint rules waived)
//   -- +upgrade
//   ALTER TABLE employees ADD COLUMN notes TEXT;
//   -- +downgrade
//   ALTER TABLE employees DROP COLUMN notes;
//
// Header keys are lower-case words followed by a colon; other comment
// lines in the header are ignored.
struct Script {
  std::string id;
  std::vector<std::string> down_revisions;
  std::string description;
  bool breaking = false;
  // "-- foreign_keys: off": the migrator turns foreign keys off around
  // the script's transaction (for a table rebuild) and runs
  // PRAGMA foreign_key_check before it commits.
  bool foreign_keys_off = false;
  // Lint rules the author waives for this revision, with the reason in
  // the header's comments (see Lint).
  std::vector<std::string> nolint;
  std::string upgrade_sql;
  std::string downgrade_sql;
  // False when the file has no "-- +downgrade" section: it cannot be
  // reverted.
  bool has_downgrade = false;
  // The file name (no directory), used in every error about the script.
  std::string file;
  // Lower-case hex SHA-256 of the whole file.
  std::string checksum;
};

// Parses one script. INVALID_ARGUMENT naming `file` and the line when the
// header is malformed, a key repeats or is unknown, the revision id is
// missing or not [A-Za-z0-9_]+, or the section markers are missing or out
// of order.
absl::StatusOr<Script> ParseScript(absl::string_view text,
                                   absl::string_view file);

// Loads every "*.sql" file of `dir`, sorted by file name. NOT_FOUND when
// the directory does not exist; the first malformed file's error otherwise.
absl::StatusOr<std::vector<Script>> LoadScripts(const std::string& dir);

// Lower-case hex SHA-256 of `data`.
std::string Sha256Hex(absl::string_view data);

// True when `id` is a well-formed revision id.
bool IsValidRevisionId(absl::string_view id);

}  // namespace pulse::migrate

#endif  // PULSE_LIBS_MIGRATE_SCRIPT_H_
