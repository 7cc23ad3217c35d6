#ifndef PULSE_LIBS_MIGRATE_GRAPH_H_
#define PULSE_LIBS_MIGRATE_GRAPH_H_

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "libs/migrate/script.h"

namespace pulse::migrate {

using RevisionSet = std::set<std::string>;

// The revision graph: revisions linked child -> parents by down_revision.
// Immutable once built; safe to share between threads.
class RevisionGraph {
 public:
  // INVALID_ARGUMENT when two files share a revision id (naming both), a
  // down_revision names no script (naming the file), or the parents form a
  // cycle (naming the revisions in it).
  static absl::StatusOr<RevisionGraph> Build(std::vector<Script> scripts);

  // nullptr when `id` is not a revision.
  const Script* Find(absl::string_view id) const;

  // `id_or_prefix` as an exact id or a unique prefix of one.
  // INVALID_ARGUMENT when it matches nothing or several revisions.
  absl::StatusOr<std::string> Resolve(absl::string_view id_or_prefix) const;

  // Revisions nothing names as parent, sorted.
  const std::vector<std::string>& heads() const { return heads_; }
  // Revisions with no parent, sorted.
  const std::vector<std::string>& bases() const { return bases_; }
  // Every revision, parents before children; ties broken by id, so the
  // order is the same on every machine.
  const std::vector<std::string>& topological_order() const { return order_; }
  // Revisions named as parent by more than one child.
  std::vector<std::string> BranchPoints() const;
  const std::vector<std::string>& Children(absl::string_view id) const;
  bool empty() const { return scripts_.empty(); }

  // `ids` and all their ancestors. Every id must be in the graph.
  RevisionSet Closure(const std::vector<std::string>& ids) const;
  // The members of `applied` that no other member descends from: the
  // "current" revisions of a database whose applied set is `applied`.
  std::vector<std::string> Maximal(const RevisionSet& applied) const;
  // True when `descendant` is `ancestor` or descends from it.
  bool IsDescendantOrSelf(absl::string_view descendant,
                          absl::string_view ancestor) const;

 private:
  std::map<std::string, Script, std::less<>> scripts_;
  std::map<std::string, std::vector<std::string>, std::less<>> children_;
  std::vector<std::string> heads_;
  std::vector<std::string> bases_;
  std::vector<std::string> order_;
};

}  // namespace pulse::migrate

#endif  // PULSE_LIBS_MIGRATE_GRAPH_H_
