#ifndef PULSE_LIBS_MIGRATE_LINT_H_
#define PULSE_LIBS_MIGRATE_LINT_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "libs/migrate/graph.h"

namespace pulse::migrate {

// One thing lint found in a revision's script.
struct LintFinding {
  enum class Severity { kError, kWarning };
  Severity severity = Severity::kError;
  // The rule's name, as "-- nolint:" names it: drop_table, drop_column,
  // rename, type_change, not_null_added, check_added, drop_needed_index,
  // not_in_transaction, replay_failed, unknown_nolint (errors unless the
  // revision is marked breaking or waives them); forgotten_object,
  // missing_downgrade, downgrade_drops_data, downgrade_mismatch
  // (warnings).
  std::string rule;
  std::string file;
  // The statement that made the change ("" when the finding is about the
  // whole script).
  std::string statement;
  std::string message;
};

// "FILE: error|warning: [rule] message (statement `...`)".
std::string FormatFinding(const LintFinding& finding);

// Replays each revision's upgrade on an in-memory database holding its
// parents' schema (no rows), then its downgrade, and classifies what they
// change. Additive changes (a new table, a nullable column, an index, a
// view, a trigger) pass; destructive or incompatible ones (dropping a
// table or column, a rename, a changed column type, a NOT NULL or CHECK
// that existing rows may fail, dropping an index that reads need) are
// errors unless the revision says "-- breaking: true" or waives the rule
// with "-- nolint: RULE". Statements that cannot run in the migrator's
// transaction are errors. Warnings: a missing downgrade, a downgrade that
// drops data or does not restore the parent's schema, an index or trigger
// lost with a rebuilt table. Findings come in topological order.
absl::StatusOr<std::vector<LintFinding>> Lint(const RevisionGraph& graph);

// True when any finding is an error.
bool HasErrors(const std::vector<LintFinding>& findings);

}  // namespace pulse::migrate

#endif  // PULSE_LIBS_MIGRATE_LINT_H_
