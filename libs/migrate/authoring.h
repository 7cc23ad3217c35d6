#ifndef PULSE_LIBS_MIGRATE_AUTHORING_H_
#define PULSE_LIBS_MIGRATE_AUTHORING_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "libs/migrate/graph.h"

namespace pulse::migrate {

// Writes a new script into `dir` whose parent is the graph's single head
// (none for an empty graph), with a fresh random 12-hex-digit id and empty
// upgrade and downgrade sections. Returns the new file's path.
// INVALID_ARGUMENT when `message` is empty or the graph has several heads
// (merge them first); ALREADY_EXISTS never overwrites a file.
absl::StatusOr<std::string> WriteNewRevision(const std::string& dir,
                                             const RevisionGraph& graph,
                                             absl::string_view message);

// Writes a merge revision whose parents are all the graph's heads.
// INVALID_ARGUMENT when there are fewer than two heads.
absl::StatusOr<std::string> WriteMergeRevision(const std::string& dir,
                                               const RevisionGraph& graph,
                                               absl::string_view message);

}  // namespace pulse::migrate

#endif  // PULSE_LIBS_MIGRATE_AUTHORING_H_
