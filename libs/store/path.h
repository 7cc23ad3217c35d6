#ifndef PULSE_LIBS_STORE_PATH_H_
#define PULSE_LIBS_STORE_PATH_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "libs/store/sql.h"

namespace pulse::store {

// The subtree index's path (employees.org_path): the ids from the top of
// the organisation down to the employee, each as 8 lowercase hex digits.
// The one definition in C++; the migrations' SQL writes the same format
// with printf('%08x', id), which PathFormatTest checks against this.
inline constexpr size_t kPathComponentChars = 8;
// As SQLite's printf() and absl::StrFormat take it.
inline constexpr char kPathComponentFormat[] = "%08x";
// The largest id a component holds.
inline constexpr int64_t kMaxPathId = 4294967295;

// One id's component (for ids in 1..kMaxPathId).
inline std::string PathComponent(int64_t id) {
  return absl::StrFormat(kPathComponentFormat, static_cast<uint32_t>(id));
}

// The id of the component `from_end` places from the end of `path` (1: the
// last, the employee's own), or -1 when there is none or it is not hex.
int64_t ComponentId(absl::string_view path, size_t from_end);

// Replaces the path generation token (table org_path_generation, revision
// 9b4e2d7c5a13), which readers key what they checked of the paths by. The
// triggers replace it on every path change; writers that set the triggers
// aside (bulk import, seeding) or replace the data wholesale (restore)
// call this. Does nothing on a schema without the table.
absl::Status ReplacePathGeneration(Database& db);

}  // namespace pulse::store

#endif  // PULSE_LIBS_STORE_PATH_H_
