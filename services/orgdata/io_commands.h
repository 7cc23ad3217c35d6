#ifndef PULSE_SERVICES_ORGDATA_IO_COMMANDS_H_
#define PULSE_SERVICES_ORGDATA_IO_COMMANDS_H_

#include <string>

namespace pulse::orgdata {

struct ImportCommand {
  std::string db_path;
  std::string file;
  // "csv", "jsonl", or empty: from the file's extension.
  std::string format;
  std::string departments_file;
  // "merge" or "replace".
  std::string mode = "merge";
  bool dry_run = false;
};

// pulse-orgdata import: reads the file (and the departments file), stages,
// validates and applies it in one transaction. Prints what it did (or would
// do) and returns 0; lists the invalid rows on stderr ("FILE:LINE: column:
// problem") and returns 1, changing nothing; 2 for a usage error.
int RunImport(const ImportCommand& command);

struct ExportCommand {
  std::string db_path;
  std::string format = "csv";
  std::string departments_file;
};

// pulse-orgdata export: the organisation to stdout, in the format import
// reads. Returns 0, or 1 with one line on stderr.
int RunExport(const ExportCommand& command);

}  // namespace pulse::orgdata

#endif  // PULSE_SERVICES_ORGDATA_IO_COMMANDS_H_
