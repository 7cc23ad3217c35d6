#ifndef PULSE_LIBS_WRITE_IMPORT_H_
#define PULSE_LIBS_WRITE_IMPORT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "libs/store/sql.h"
#include "libs/write/rows.h"

namespace pulse::write {

enum class ImportMode {
  // Insert or update the listed employees; leave the others.
  kMerge,
  // The rows are the whole organisation: employees not listed are deleted.
  kReplace,
};

struct ImportOptions {
  ImportMode mode = ImportMode::kMerge;
  // Validate and count, then roll back.
  bool dry_run = false;
  // Names the rows' origin in errors ("FILE:LINE: ...").
  std::string source = "input";
  // Most errors listed in the status, and most bytes they take (a gRPC
  // status travels in trailers that clients cap); the rest are counted.
  int max_errors = 100;
  size_t max_error_bytes = 1 << 20;
  // Run inside the write transaction before anything is written (the
  // org-data service's revision gate); its error is returned as is.
  std::function<absl::Status(store::Database&)> precondition;
};

// What an import or a batch of changes did (or, validated only, would do).
struct WriteSummary {
  int64_t added = 0;
  int64_t updated = 0;  // Any field changed, a move included.
  int64_t moved = 0;    // The manager changed.
  int64_t deleted = 0;
  int64_t unchanged = 0;
  int64_t reports_reassigned = 0;
  int64_t departments_added = 0;
  int64_t departments_updated = 0;
  int64_t departments_deleted = 0;
};

// An import in progress on one read-write connection: rows are staged into
// temporary tables as they come (taking no lock on the database, so a slow
// source blocks no writer), then Finish validates them all against the
// database and applies them in one transaction, or nothing. Memory stays
// bounded by the number of employees (their ids and managers), not their
// rows. Not thread-safe; one at a time per connection.
class Importer {
 public:
  // FAILED_PRECONDITION when the database has no employees table.
  static absl::StatusOr<std::unique_ptr<Importer>> Begin(store::Database& db,
                                                         ImportOptions options);
  ~Importer();
  Importer(const Importer&) = delete;
  Importer& operator=(const Importer&) = delete;

  // Stages one employee (its fields already checked by ParseEmployee or
  // CheckEmployee); a duplicate id is recorded as an error.
  absl::Status AddEmployee(const EmployeeRow& row);
  absl::Status AddDepartment(const DepartmentRow& row);
  // An error found before staging (a row that could not be parsed).
  void AddError(RowError error);
  // A row refused before staging whose id could be read: rows naming it as
  // manager are not also refused for an unknown manager.
  void AddRejected(int64_t id, int64_t line);

  // Validates every row against the database and applies them in one
  // transaction (unless dry_run). On row errors nothing is written and the
  // status lists them, one "SOURCE:LINE: column: problem" line each (up to
  // max_errors, then a count): INVALID_ARGUMENT, or ALREADY_EXISTS /
  // FAILED_PRECONDITION when every error is a duplicate / a cycle.
  // UNAVAILABLE when the write lock cannot be had.
  absl::StatusOr<WriteSummary> Finish();
  // The errors found (after Finish failed on rows).
  const std::vector<RowError>& errors() const { return errors_; }

 private:
  struct Node {
    int64_t manager = 0;  // 0: none.
    int64_t line = 0;
  };
  Importer(store::Database& db, ImportOptions options)
      : db_(db), options_(std::move(options)) {}
  absl::Status Validate();
  // Validate's checks; SQLite's errors without Validate's context.
  absl::Status ValidateRows();
  // INTERNAL naming the first reference to a missing row (after a load
  // with foreign keys off: the checks of Validate should make it
  // impossible).
  absl::Status CheckReferences();
  void CheckCycles(const std::function<std::optional<int64_t>(int64_t)>&
                       nearest_listed_ancestor);
  absl::StatusOr<WriteSummary> Apply();
  // Apply's work; SQLite's errors without Apply's context.
  absl::StatusOr<WriteSummary> ApplyRows();
  absl::Status ApplyDepartments(WriteSummary* summary,
                                absl::flat_hash_map<std::string, int64_t>* ids);
  absl::Status BulkInsert(const absl::flat_hash_map<std::string, int64_t>& ids);
  absl::Status Merge(const absl::flat_hash_map<std::string, int64_t>& ids,
                     WriteSummary* summary);
  absl::Status ErrorStatus() const;

  store::Database& db_;
  const ImportOptions options_;
  absl::flat_hash_map<int64_t, Node> nodes_;
  // Hashes of the staged emails: only when two collide does Validate list
  // duplicates with a query (a sort of every staged row).
  absl::flat_hash_set<uint64_t> email_hashes_;
  bool emails_may_repeat_ = false;
  std::unique_ptr<store::Statement> stage_employee_;
  std::unique_ptr<store::Statement> stage_department_;
  std::vector<RowError> errors_;
  int64_t departments_ = 0;
  int64_t staged_ = 0;
  bool staging_ = false;
};

// Writes the organisation to `employees` (and its departments to
// `departments` when not null) in `format`, ordered by id (departments by
// name). FAILED_PRECONDITION when the database has no employees table.
absl::Status Export(store::Database& db, Format format, std::FILE* employees,
                    std::FILE* departments);

// The error lines of `errors` as one status message: "SOURCE:LINE: column:
// problem" each, at most `max` lines and `max_bytes`, then a count of the
// rest.
std::string FormatErrors(const std::vector<RowError>& errors,
                         const std::string& source, int max, size_t max_bytes);

}  // namespace pulse::write

#endif  // PULSE_LIBS_WRITE_IMPORT_H_
