#ifndef PULSE_LIBS_WRITE_ROWS_H_
#define PULSE_LIBS_WRITE_ROWS_H_

#include <array>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "libs/store/employee_columns.h"
#include "libs/store/path.h"

namespace pulse::write {

// The employee file's columns, in the order export writes them; import
// finds them by header name. The files' names of store::kEmployeeColumns.
inline constexpr std::array<const char*, store::kEmployeeColumns.size()>
    kEmployeeColumns = [] {
      std::array<const char*, store::kEmployeeColumns.size()> files{};
      for (size_t i = 0; i < files.size(); ++i) {
        files[i] = store::kEmployeeColumns[i].file;
      }
      return files;
    }();
// The departments file's columns.
inline constexpr std::array<const char*, 3> kDepartmentColumns = {
    "name", "parent", "head_employee_id"};

// Ids must fit a subtree path component (8 hex digits; migration
// 7d2e4b9c1f60 refuses others at write time too).
inline constexpr int64_t kMaxEmployeeId = store::kMaxPathId;

// One employee as a file or an Import call gives it.
struct EmployeeRow {
  // Where the row starts (a file's line, or a stream's row number), for
  // errors.
  int64_t line = 0;
  int64_t id = 0;
  std::optional<int64_t> manager_id;
  std::string full_name;
  std::string title;
  std::string email;
  // A department's name; empty for none.
  std::string department;
  std::string hire_date;
  std::optional<std::string> notes;
};

struct DepartmentRow {
  int64_t line = 0;
  std::string name;
  // The parent department's name; empty for a top-level department.
  std::string parent;
  std::optional<int64_t> head_employee_id;
};

// A problem with one row, printed as "SOURCE:LINE: column: problem".
struct RowError {
  RowError() = default;
  RowError(int64_t line, std::string column, std::string problem,
           absl::StatusCode code = absl::StatusCode::kInvalidArgument)
      : line(line),
        column(std::move(column)),
        problem(std::move(problem)),
        code(code) {}

  int64_t line = 0;
  std::string column;
  std::string problem;
  // What the caller should do (INVALID_ARGUMENT, ALREADY_EXISTS for a
  // duplicate, FAILED_PRECONDITION for a cycle).
  absl::StatusCode code = absl::StatusCode::kInvalidArgument;
  // The file, when not the one the import names (a departments file).
  std::string source;
};

enum class Format { kCsv, kJsonl };

// The format named by `flag` ("csv", "jsonl"), or when empty by `path`'s
// extension (.csv, .jsonl, .ndjson). INVALID_ARGUMENT otherwise.
absl::StatusOr<Format> FormatFor(absl::string_view flag,
                                 absl::string_view path);

// Whether `date` is a real calendar date written YYYY-MM-DD.
bool IsIsoDate(absl::string_view date);

// Reads records one at a time from a CSV file (header row, RFC 4180
// quoting, fields may span lines) or a JSON Lines file (one flat object per
// line), never holding more than one record. Not thread-safe.
class RecordReader {
 public:
  // `columns`: the names the caller knows; others are ignored. NOT_FOUND
  // when the file cannot be opened; "-" is standard input.
  static absl::StatusOr<std::unique_ptr<RecordReader>> Open(
      const std::string& path, Format format, std::vector<std::string> columns);
  ~RecordReader();
  RecordReader(const RecordReader&) = delete;
  RecordReader& operator=(const RecordReader&) = delete;

  // The next record's values, by the index of the column in `columns`
  // (nullopt: absent, or JSON null). False at the end of the file. A
  // record that cannot be read at all (bad quoting, bad JSON, a missing
  // header column) is an error for that line, in `*error`, and reading
  // goes on with the next one.
  bool Next(std::vector<std::optional<std::string>>* values,
            std::optional<RowError>* error);
  // The line the last record started on.
  int64_t line() const { return record_line_; }
  // Errors of the file as a whole (a missing required column): set after
  // Open.
  const std::vector<RowError>& header_errors() const { return header_errors_; }

 private:
  RecordReader(std::FILE* file, bool owned, Format format,
               std::vector<std::string> columns);
  bool ReadLine(std::string* line);
  bool NextCsv(std::vector<std::optional<std::string>>* values,
               std::optional<RowError>* error);
  bool NextJson(std::vector<std::optional<std::string>>* values,
                std::optional<RowError>* error);
  bool SplitCsvRecord(std::vector<std::string>* fields, std::string* problem);

  std::FILE* file_;
  bool owned_;
  Format format_;
  std::vector<std::string> columns_;
  // For CSV: the header's position of each column (-1: absent).
  std::vector<int> positions_;
  std::vector<RowError> header_errors_;
  int64_t next_line_ = 1;
  int64_t record_line_ = 0;
  std::string buffer_;
};

// Parses an employee record (values by kEmployeeColumns) into `row`,
// appending each problem to `errors`; false if there was one.
bool ParseEmployee(const std::vector<std::optional<std::string>>& values,
                   int64_t line, EmployeeRow* row,
                   std::vector<RowError>* errors);
// The same for a department record (values by kDepartmentColumns).
bool ParseDepartment(const std::vector<std::optional<std::string>>& values,
                     int64_t line, DepartmentRow* row,
                     std::vector<RowError>* errors);
// Checks the fields of an employee given field by field (an Import call's
// rows): id range, required fields, the date, a manager equal to the id.
void CheckEmployee(const EmployeeRow& row, std::vector<RowError>* errors);

// Reads every record of an employees file: each valid row goes to `add`
// (whose error stops the read and is returned); each record with a problem
// goes to `reject`, with the row as far as it was read (null when the
// record could not be read at all, or for a header error). `name_file`
// puts `path` into the errors' source. NOT_FOUND when the file cannot be
// opened.
absl::Status ReadEmployees(
    const std::string& path, Format format, bool name_file,
    const std::function<absl::Status(const EmployeeRow&)>& add,
    const std::function<void(RowError, const EmployeeRow*)>& reject);
// The same for a departments file.
absl::Status ReadDepartments(
    const std::string& path, Format format, bool name_file,
    const std::function<absl::Status(const DepartmentRow&)>& add,
    const std::function<void(RowError, const DepartmentRow*)>& reject);

// Writes rows in `format`, export's only writer: the header (CSV), then a
// line per row, with no trailing space, so that a file it wrote and read
// back writes the same bytes.
class RecordWriter {
 public:
  RecordWriter(std::FILE* out, Format format) : out_(out), format_(format) {}
  void EmployeeHeader();
  void Employee(const EmployeeRow& row);
  void DepartmentHeader();
  void Department(const DepartmentRow& row);

 private:
  void Write(const std::vector<const char*>& names,
             const std::vector<std::optional<std::string>>& values,
             const std::vector<bool>& numeric);
  std::FILE* out_;
  Format format_;
};

}  // namespace pulse::write

#endif  // PULSE_LIBS_WRITE_ROWS_H_
