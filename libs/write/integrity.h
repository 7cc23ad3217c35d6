#ifndef PULSE_LIBS_WRITE_INTEGRITY_H_
#define PULSE_LIBS_WRITE_INTEGRITY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "libs/store/sql.h"

namespace pulse::write {

// Problems in the organisation's data, one sentence each (at most a few of
// each kind, then a count): references to missing rows (PRAGMA
// foreign_key_check) and subtree paths that disagree with manager_id. A
// path is right when it is its manager's path followed by the employee's
// own id (its own id alone without a manager, or with one that does not
// exist); checked row by row, that also rules out cycles, whose paths
// would have to grow without end. Empty when all is well; an error status
// only when the check cannot run. Runs in one read transaction.
absl::StatusOr<std::vector<std::string>> CheckData(store::Database& db);

// Recomputes every subtree path from manager_id in one write transaction
// (readers keep the snapshot they began with). Returns how many paths
// changed. FAILED_PRECONDITION, changing nothing, when manager links form
// a cycle (its ids named: fix manager_id first) or the schema has no
// subtree index.
absl::StatusOr<int64_t> RepairIndex(store::Database& db);

}  // namespace pulse::write

#endif  // PULSE_LIBS_WRITE_INTEGRITY_H_
