#include "services/orgdata/io_commands.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "libs/common/env_flags.h"
#include "libs/store/store.h"
#include "libs/write/import.h"
#include "libs/write/rows.h"

namespace pulse::orgdata {
namespace {

int Fail(const absl::Status& status) {
  return FailCommand("pulse-orgdata", status);
}

}  // namespace

int RunImport(const ImportCommand& command) {
  if (command.file.empty()) {
    std::fprintf(stderr, "pulse-orgdata: import needs --file=PATH\n");
    return 2;
  }
  if (command.mode != "merge" && command.mode != "replace") {
    std::fprintf(stderr,
                 "pulse-orgdata: --mode must be merge or replace, not '%s'\n",
                 command.mode.c_str());
    return 2;
  }
  auto format = write::FormatFor(command.format, command.file);
  if (!format.ok()) {
    Fail(format.status());
    return 2;
  }
  store::OpenOptions open;
  open.create = false;
  auto db = store::Open(command.db_path, open);
  if (!db.ok()) return Fail(db.status());
  write::ImportOptions options;
  options.mode = command.mode == "replace" ? write::ImportMode::kReplace
                                           : write::ImportMode::kMerge;
  options.dry_run = command.dry_run;
  options.source = command.file;
  auto importer = write::Importer::Begin(**db, options);
  if (!importer.ok()) return Fail(importer.status());
  if (!command.departments_file.empty()) {
    auto departments_format =
        write::FormatFor(command.format, command.departments_file);
    if (!departments_format.ok()) {
      Fail(departments_format.status());
      return 2;
    }
    absl::Status s = write::ReadDepartments(
        command.departments_file, *departments_format, /*name_file=*/true,
        [&](const write::DepartmentRow& row) {
          return (*importer)->AddDepartment(row);
        },
        [&](write::RowError e, const write::DepartmentRow*) {
          (*importer)->AddError(std::move(e));
        });
    if (!s.ok()) return Fail(s);
  }
  absl::Status s = write::ReadEmployees(
      command.file, *format, /*name_file=*/false,
      [&](const write::EmployeeRow& row) {
        return (*importer)->AddEmployee(row);
      },
      [&](write::RowError e, const write::EmployeeRow* row) {
        if (row != nullptr && row->id > 0) {
          (*importer)->AddRejected(row->id, row->line);
        }
        (*importer)->AddError(std::move(e));
      });
  if (!s.ok()) return Fail(s);
  auto summary = (*importer)->Finish();
  if (!summary.ok()) return Fail(summary.status());
  std::printf(
      "%s %s: %lld added, %lld updated (%lld moved), %lld deleted, %lld "
      "unchanged; departments: %lld added, %lld updated\n",
      command.dry_run ? "dry run, nothing written; would import" : "imported",
      command.file.c_str(), static_cast<long long>(summary->added),
      static_cast<long long>(summary->updated),
      static_cast<long long>(summary->moved),
      static_cast<long long>(summary->deleted),
      static_cast<long long>(summary->unchanged),
      static_cast<long long>(summary->departments_added),
      static_cast<long long>(summary->departments_updated));
  return 0;
}

int RunExport(const ExportCommand& command) {
  auto format = write::FormatFor(command.format, "");
  if (!format.ok()) {
    Fail(format.status());
    return 2;
  }
  store::OpenOptions open;
  open.read_only = true;
  auto db = store::Open(command.db_path, open);
  if (!db.ok()) return Fail(db.status());
  std::FILE* departments = nullptr;
  if (!command.departments_file.empty()) {
    departments = std::fopen(command.departments_file.c_str(), "wb");
    if (departments == nullptr) {
      return Fail(absl::UnavailableError(
          absl::StrCat("cannot write ", command.departments_file)));
    }
  }
  absl::Status s = write::Export(**db, *format, stdout, departments);
  if (departments != nullptr && std::fclose(departments) != 0 && s.ok()) {
    s = absl::UnavailableError(
        absl::StrCat("cannot write ", command.departments_file));
  }
  if (std::fflush(stdout) != 0 && s.ok()) {
    s = absl::UnavailableError("cannot write the export to stdout");
  }
  if (!s.ok()) return Fail(s);
  return 0;
}

}  // namespace pulse::orgdata
