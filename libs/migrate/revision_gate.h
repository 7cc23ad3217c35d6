#ifndef PULSE_LIBS_MIGRATE_REVISION_GATE_H_
#define PULSE_LIBS_MIGRATE_REVISION_GATE_H_

#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "libs/migrate/graph.h"
#include "libs/migrate/migrator.h"
#include "libs/store/sql.h"

namespace pulse::migrate {

// Decides whether a reader built for `required` revision may read a
// database (DESIGN.md, "The revision gate"): it accepts the required
// revision and its descendants, up to (not including) a revision marked
// breaking. It refuses a database at base, at an older revision, on another
// branch, at a revision it cannot place, or with a migration in progress
// (a marker of a migration whose process holds the migration lock; a
// killed migration's marker is ignored).
//
// The graph is read from the database's pulse_revision_graph table (so a
// newer, additive revision is judged correctly), falling back to
// `local_graph`. Thread-safe; acceptances are cached per revision state
// since a revision's place in the graph never changes.
class RevisionGate {
 public:
  // `local_graph` may be null; it must outlive the gate.
  RevisionGate(std::string required, const RevisionGraph* local_graph);

  const std::string& required() const { return required_; }

  // Reads the revision state through `db` in the caller's transaction and
  // judges it. OK, or FAILED_PRECONDITION naming the database's revision
  // and the required one and saying what fixes it. Other codes when the
  // state cannot be read.
  absl::Status Check(store::Database& db) const;

  // Judges a state already read from `db` (its graph table is consulted).
  absl::Status Judge(store::Database& db, const RevisionState& state) const;

 private:
  // The parents and breaking flag of `id`; false when nobody knows it.
  bool Lookup(store::Database& db, const std::string& id,
              std::vector<std::string>* parents, bool* breaking) const;
  absl::Status JudgeHead(store::Database& db, const std::string& current) const;

  const std::string required_;
  const RevisionGraph* local_graph_;
  mutable absl::Mutex mu_;
  mutable std::map<std::string, absl::Status> verdicts_ ABSL_GUARDED_BY(mu_);
};

}  // namespace pulse::migrate

#endif  // PULSE_LIBS_MIGRATE_REVISION_GATE_H_
