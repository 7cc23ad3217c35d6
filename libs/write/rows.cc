#include "libs/write/rows.h"

#include <cerrno>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace pulse::write {
namespace {

constexpr const char* kRequired[] = {"id",    "manager_id", "full_name",
                                     "email", "hire_date",  "name"};

bool IsRequiredColumn(absl::string_view name) {
  for (const char* r : kRequired) {
    if (name == r) return true;
  }
  return false;
}

// A JSON string's contents from `*p` (just past the opening quote).
bool ParseJsonString(absl::string_view text, size_t* p, std::string* out) {
  out->clear();
  while (*p < text.size()) {
    const char c = text[(*p)++];
    if (c == '"') return true;
    if (c != '\\') {
      out->push_back(c);
      continue;
    }
    if (*p >= text.size()) return false;
    const char e = text[(*p)++];
    switch (e) {
      case '"':
        out->push_back('"');
        break;
      case '\\':
        out->push_back('\\');
        break;
      case '/':
        out->push_back('/');
        break;
      case 'b':
        out->push_back('\b');
        break;
      case 'f':
        out->push_back('\f');
        break;
      case 'n':
        out->push_back('\n');
        break;
      case 'r':
        out->push_back('\r');
        break;
      case 't':
        out->push_back('\t');
        break;
      case 'u': {
        auto hex4 = [&](uint32_t* v) {
          if (*p + 4 > text.size()) return false;
          *v = 0;
          for (int i = 0; i < 4; ++i) {
            const char h = text[(*p)++];
            *v <<= 4;
            if (h >= '0' && h <= '9')
              *v |= h - '0';
            else if (h >= 'a' && h <= 'f')
              *v |= h - 'a' + 10;
            else if (h >= 'A' && h <= 'F')
              *v |= h - 'A' + 10;
            else
              return false;
          }
          return true;
        };
        uint32_t cp;
        if (!hex4(&cp)) return false;
        if (cp >= 0xd800 && cp < 0xdc00) {
          uint32_t low;
          if (*p + 2 > text.size() || text[*p] != '\\' || text[*p + 1] != 'u')
            return false;
          *p += 2;
          if (!hex4(&low) || low < 0xdc00 || low >= 0xe000) return false;
          cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
        }
        if (cp < 0x80) {
          out->push_back(static_cast<char>(cp));
        } else if (cp < 0x800) {
          out->push_back(static_cast<char>(0xc0 | (cp >> 6)));
          out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
        } else if (cp < 0x10000) {
          out->push_back(static_cast<char>(0xe0 | (cp >> 12)));
          out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
          out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
        } else {
          out->push_back(static_cast<char>(0xf0 | (cp >> 18)));
          out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
          out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
          out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
        }
        break;
      }
      default:
        return false;
    }
  }
  return false;
}

void SkipSpace(absl::string_view text, size_t* p) {
  while (*p < text.size() && absl::ascii_isspace(text[*p])) ++*p;
}

void AppendJsonString(absl::string_view s, std::string* out) {
  out->push_back('"');
  for (const char c : s) {
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char u[8];
          std::snprintf(u, sizeof(u), "\\u%04x", c);
          out->append(u);
        } else {
          out->push_back(c);
        }
    }
  }
  out->push_back('"');
}

void AppendCsvField(absl::string_view s, std::string* out) {
  if (s.find_first_of(",\"\r\n") == absl::string_view::npos) {
    out->append(s.data(), s.size());
    return;
  }
  out->push_back('"');
  for (const char c : s) {
    if (c == '"') out->push_back('"');
    out->push_back(c);
  }
  out->push_back('"');
}

// A positive integer field; false with a problem otherwise.
bool ParseId(const std::optional<std::string>& value, int64_t* id,
             std::string* problem) {
  const std::string text(absl::StripAsciiWhitespace(value.value_or("")));
  if (!absl::SimpleAtoi(text, id)) {
    *problem = absl::StrCat("'", text, "' is not an integer");
    return false;
  }
  if (*id < 1 || *id > kMaxEmployeeId) {
    *problem = absl::StrCat(*id, " is out of range: ids must be between 1 and ",
                            kMaxEmployeeId);
    return false;
  }
  return true;
}

bool Blank(const std::optional<std::string>& v) {
  return !v.has_value() || absl::StripAsciiWhitespace(*v).empty();
}

}  // namespace

absl::StatusOr<Format> FormatFor(absl::string_view flag,
                                 absl::string_view path) {
  if (flag == "csv") return Format::kCsv;
  if (flag == "jsonl") return Format::kJsonl;
  if (!flag.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--format must be csv or jsonl, not '", flag, "'"));
  }
  if (absl::EndsWithIgnoreCase(path, ".csv")) return Format::kCsv;
  if (absl::EndsWithIgnoreCase(path, ".jsonl") ||
      absl::EndsWithIgnoreCase(path, ".ndjson")) {
    return Format::kJsonl;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("cannot tell the format of '", path,
                   "' from its name: give --format=csv or --format=jsonl"));
}

bool IsIsoDate(absl::string_view d) {
  if (d.size() != 10 || d[4] != '-' || d[7] != '-') return false;
  int y = 0, m = 0, day = 0;
  if (!absl::SimpleAtoi(d.substr(0, 4), &y) ||
      !absl::SimpleAtoi(d.substr(5, 2), &m) ||
      !absl::SimpleAtoi(d.substr(8, 2), &day)) {
    return false;
  }
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9}) {
    if (!absl::ascii_isdigit(d[i])) return false;
  }
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30,
                                  31, 31, 30, 31, 30, 31};
  if (m < 1 || m > 12 || day < 1) return false;
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return day <= kDays[m - 1] + (m == 2 && leap ? 1 : 0);
}

absl::StatusOr<std::unique_ptr<RecordReader>> RecordReader::Open(
    const std::string& path, Format format, std::vector<std::string> columns) {
  std::FILE* file = path == "-" ? stdin : std::fopen(path.c_str(), "rb");
  if (file == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("cannot open ", path, ": ", std::strerror(errno)));
  }
  std::unique_ptr<RecordReader> reader(
      new RecordReader(file, path != "-", format, std::move(columns)));
  if (format == Format::kCsv) {
    std::vector<std::string> header;
    std::string problem;
    reader->record_line_ = reader->next_line_;
    if (!reader->SplitCsvRecord(&header, &problem)) {
      reader->header_errors_.push_back({1, "header", "the file is empty"});
      return reader;
    }
    if (!header.empty() && absl::StartsWith(header[0], "\xEF\xBB\xBF")) {
      header[0].erase(0, 3);  // A byte-order mark, as spreadsheets write.
    }
    reader->positions_.assign(reader->columns_.size(), -1);
    for (size_t i = 0; i < header.size(); ++i) {
      const std::string name(absl::StripAsciiWhitespace(header[i]));
      for (size_t c = 0; c < reader->columns_.size(); ++c) {
        if (reader->columns_[c] == name) reader->positions_[c] = i;
      }
    }
    for (size_t c = 0; c < reader->columns_.size(); ++c) {
      if (reader->positions_[c] < 0 && IsRequiredColumn(reader->columns_[c])) {
        reader->header_errors_.push_back(
            {1, reader->columns_[c], "the header has no such column"});
      }
    }
  }
  return reader;
}

RecordReader::RecordReader(std::FILE* file, bool owned, Format format,
                           std::vector<std::string> columns)
    : file_(file),
      owned_(owned),
      format_(format),
      columns_(std::move(columns)) {}

RecordReader::~RecordReader() {
  if (owned_) std::fclose(file_);
}

bool RecordReader::ReadLine(std::string* line) {
  line->clear();
  char chunk[65536];
  bool any = false;
  while (std::fgets(chunk, sizeof(chunk), file_) != nullptr) {
    any = true;
    const size_t n = std::strlen(chunk);
    if (n > 0 && chunk[n - 1] == '\n') {
      line->append(chunk, n - 1);
      if (!line->empty() && line->back() == '\r') line->pop_back();
      ++next_line_;
      return true;
    }
    line->append(chunk, n);
  }
  if (any) ++next_line_;
  return any;
}

bool RecordReader::SplitCsvRecord(std::vector<std::string>* fields,
                                  std::string* problem) {
  fields->clear();
  problem->clear();
  if (!ReadLine(&buffer_)) return false;
  std::string field;
  bool quoted = false, was_quoted = false;
  size_t i = 0;
  while (true) {
    if (i >= buffer_.size()) {
      if (quoted) {
        // A quoted field goes on over the line break.
        std::string more;
        if (!ReadLine(&more)) {
          *problem = "a quoted field is not closed";
          break;
        }
        field.push_back('\n');
        buffer_ = std::move(more);
        i = 0;
        continue;
      }
      fields->push_back(std::move(field));
      return true;
    }
    const char c = buffer_[i++];
    if (quoted) {
      if (c == '"') {
        if (i < buffer_.size() && buffer_[i] == '"') {
          field.push_back('"');
          ++i;
        } else {
          quoted = false;
        }
      } else {
        field.push_back(c);
      }
    } else if (c == ',') {
      fields->push_back(std::move(field));
      field.clear();
      was_quoted = false;
    } else if (c == '"' && field.empty() && !was_quoted) {
      quoted = was_quoted = true;
    } else {
      field.push_back(c);
    }
  }
  fields->push_back(std::move(field));
  return true;
}

bool RecordReader::Next(std::vector<std::optional<std::string>>* values,
                        std::optional<RowError>* error) {
  error->reset();
  values->assign(columns_.size(), std::nullopt);
  return format_ == Format::kCsv ? NextCsv(values, error)
                                 : NextJson(values, error);
}

bool RecordReader::NextCsv(std::vector<std::optional<std::string>>* values,
                           std::optional<RowError>* error) {
  std::vector<std::string> fields;
  std::string problem;
  do {
    record_line_ = next_line_;
    if (!SplitCsvRecord(&fields, &problem)) return false;
  } while (problem.empty() && fields.size() == 1 && fields[0].empty());
  if (!problem.empty()) {
    *error = RowError{record_line_, "record", problem};
    return true;
  }
  for (size_t c = 0; c < columns_.size(); ++c) {
    const int p = positions_[c];
    if (p >= 0 && static_cast<size_t>(p) < fields.size()) {
      (*values)[c] = std::move(fields[p]);
    }
  }
  return true;
}

bool RecordReader::NextJson(std::vector<std::optional<std::string>>* values,
                            std::optional<RowError>* error) {
  do {
    record_line_ = next_line_;
    if (!ReadLine(&buffer_)) return false;
  } while (absl::StripAsciiWhitespace(buffer_).empty());
  const absl::string_view text = buffer_;
  auto bad = [&](absl::string_view why) {
    *error = RowError{record_line_, "record",
                      absl::StrCat("not a flat JSON object: ", why)};
    return true;
  };
  size_t p = 0;
  SkipSpace(text, &p);
  if (p >= text.size() || text[p++] != '{') return bad("expected '{'");
  std::string key, value;
  SkipSpace(text, &p);
  if (p < text.size() && text[p] == '}') return true;
  while (true) {
    SkipSpace(text, &p);
    if (p >= text.size() || text[p++] != '"') return bad("expected a key");
    if (!ParseJsonString(text, &p, &key)) return bad("bad string");
    SkipSpace(text, &p);
    if (p >= text.size() || text[p++] != ':') return bad("expected ':'");
    SkipSpace(text, &p);
    if (p >= text.size()) return bad("expected a value");
    std::optional<std::string> parsed;
    if (text[p] == '"') {
      ++p;
      if (!ParseJsonString(text, &p, &value)) return bad("bad string");
      parsed = value;
    } else {
      const size_t start = p;
      while (p < text.size() && text[p] != ',' && text[p] != '}' &&
             !absl::ascii_isspace(text[p])) {
        ++p;
      }
      const absl::string_view literal = text.substr(start, p - start);
      if (literal == "null") {
        parsed.reset();
      } else if (literal.empty() || literal == "{" || literal[0] == '[') {
        return bad(absl::StrCat("the value of '", key, "' is not flat"));
      } else {
        parsed = std::string(literal);
      }
    }
    for (size_t c = 0; c < columns_.size(); ++c) {
      if (columns_[c] == key) (*values)[c] = parsed;
    }
    SkipSpace(text, &p);
    if (p >= text.size()) return bad("expected ',' or '}'");
    const char c = text[p++];
    if (c == '}') break;
    if (c != ',') return bad("expected ',' or '}'");
  }
  SkipSpace(text, &p);
  if (p != text.size()) return bad("text after the object");
  return true;
}

void CheckEmployee(const EmployeeRow& row, std::vector<RowError>* errors) {
  if (row.id < 1 || row.id > kMaxEmployeeId) {
    errors->push_back({row.line, "id",
                       absl::StrCat(row.id,
                                    " is out of range: ids must be between 1 "
                                    "and ",
                                    kMaxEmployeeId)});
  }
  if (row.manager_id.has_value() && *row.manager_id == row.id) {
    errors->push_back(
        {row.line, "manager_id", "an employee cannot be their own manager"});
  }
  if (absl::StripAsciiWhitespace(row.full_name).empty()) {
    errors->push_back({row.line, "full_name", "missing"});
  }
  if (absl::StripAsciiWhitespace(row.email).empty()) {
    errors->push_back({row.line, "email", "missing"});
  }
  if (row.hire_date.empty()) {
    errors->push_back({row.line, "hire_date", "missing"});
  } else if (!IsIsoDate(row.hire_date)) {
    errors->push_back(
        {row.line, "hire_date",
         absl::StrCat("'", row.hire_date, "' is not a date (YYYY-MM-DD)")});
  }
}

bool ParseEmployee(const std::vector<std::optional<std::string>>& v,
                   int64_t line, EmployeeRow* row,
                   std::vector<RowError>* errors) {
  const size_t before = errors->size();
  *row = EmployeeRow();
  row->line = line;
  std::string problem;
  if (Blank(v[0])) {
    errors->push_back({line, "id", "missing"});
  } else if (!ParseId(v[0], &row->id, &problem)) {
    errors->push_back({line, "id", problem});
  }
  if (!Blank(v[1])) {
    int64_t m = 0;
    if (!ParseId(v[1], &m, &problem)) {
      errors->push_back({line, "manager_id", problem});
    } else {
      row->manager_id = m;
    }
  }
  row->full_name = v[2].value_or("");
  row->title = v[3].value_or("");
  row->email = std::string(absl::StripAsciiWhitespace(v[4].value_or("")));
  row->department = v[5].value_or("");
  row->hire_date = std::string(absl::StripAsciiWhitespace(v[6].value_or("")));
  if (v[7].has_value() && !v[7]->empty()) row->notes = *v[7];
  std::vector<RowError> checks;
  CheckEmployee(*row, &checks);
  for (RowError& e : checks) {
    // The id's own problem was reported as it was parsed.
    if (e.column == "id" && errors->size() > before) continue;
    if (e.column == "id" && row->id == 0) continue;
    errors->push_back(std::move(e));
  }
  return errors->size() == before;
}

bool ParseDepartment(const std::vector<std::optional<std::string>>& v,
                     int64_t line, DepartmentRow* row,
                     std::vector<RowError>* errors) {
  const size_t before = errors->size();
  *row = DepartmentRow();
  row->line = line;
  row->name = std::string(absl::StripAsciiWhitespace(v[0].value_or("")));
  row->parent = std::string(absl::StripAsciiWhitespace(v[1].value_or("")));
  if (row->name.empty()) errors->push_back({line, "name", "missing"});
  if (!row->name.empty() && row->name == row->parent) {
    errors->push_back(
        {line, "parent", "a department cannot be its own parent"});
  }
  if (!Blank(v[2])) {
    int64_t head = 0;
    std::string problem;
    if (!ParseId(v[2], &head, &problem)) {
      errors->push_back({line, "head_employee_id", problem});
    } else {
      row->head_employee_id = head;
    }
  }
  return errors->size() == before;
}

namespace {

template <typename Row, typename Names, typename Parse>
absl::Status ReadRows(const std::string& path, Format format, bool name_file,
                      const Names& names, Parse parse,
                      const std::function<absl::Status(const Row&)>& add,
                      const std::function<void(RowError, const Row*)>& reject) {
  auto reader = RecordReader::Open(
      path, format, std::vector<std::string>(names.begin(), names.end()));
  if (!reader.ok()) return reader.status();
  auto named = [&](RowError e) {
    if (name_file) e.source = path;
    return e;
  };
  for (const RowError& e : (*reader)->header_errors()) {
    reject(named(e), nullptr);
  }
  if (!(*reader)->header_errors().empty()) return absl::OkStatus();
  std::vector<std::optional<std::string>> values;
  std::optional<RowError> error;
  std::vector<RowError> errors;
  Row row;
  while ((*reader)->Next(&values, &error)) {
    if (error.has_value()) {
      reject(named(*std::move(error)), nullptr);
      continue;
    }
    errors.clear();
    if (!parse(values, (*reader)->line(), &row, &errors)) {
      for (RowError& e : errors) reject(named(std::move(e)), &row);
      continue;
    }
    if (absl::Status s = add(row); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ReadEmployees(
    const std::string& path, Format format, bool name_file,
    const std::function<absl::Status(const EmployeeRow&)>& add,
    const std::function<void(RowError, const EmployeeRow*)>& reject) {
  return ReadRows<EmployeeRow>(path, format, name_file, kEmployeeColumns,
                               ParseEmployee, add, reject);
}

absl::Status ReadDepartments(
    const std::string& path, Format format, bool name_file,
    const std::function<absl::Status(const DepartmentRow&)>& add,
    const std::function<void(RowError, const DepartmentRow*)>& reject) {
  return ReadRows<DepartmentRow>(path, format, name_file, kDepartmentColumns,
                                 ParseDepartment, add, reject);
}

void RecordWriter::Write(const std::vector<const char*>& names,
                         const std::vector<std::optional<std::string>>& values,
                         const std::vector<bool>& numeric) {
  std::string out;
  if (format_ == Format::kCsv) {
    for (size_t i = 0; i < values.size(); ++i) {
      if (i > 0) out.push_back(',');
      if (values[i].has_value()) AppendCsvField(*values[i], &out);
    }
  } else {
    out.push_back('{');
    bool first = true;
    for (size_t i = 0; i < values.size(); ++i) {
      if (!values[i].has_value()) continue;
      if (!first) out.push_back(',');
      first = false;
      AppendJsonString(names[i], &out);
      out.push_back(':');
      if (numeric[i]) {
        out.append(*values[i]);
      } else {
        AppendJsonString(*values[i], &out);
      }
    }
    out.push_back('}');
  }
  out.push_back('\n');
  std::fwrite(out.data(), 1, out.size(), out_);
}

void RecordWriter::EmployeeHeader() {
  if (format_ != Format::kCsv) return;
  std::vector<std::optional<std::string>> header;
  for (const char* c : kEmployeeColumns) header.emplace_back(c);
  Write({}, header, {});
}

void RecordWriter::Employee(const EmployeeRow& row) {
  auto optional_id = [](const std::optional<int64_t>& id) {
    return id.has_value() ? std::optional<std::string>(absl::StrCat(*id))
                          : std::nullopt;
  };
  auto optional_text = [this](const std::string& s) {
    // In CSV an empty field and a missing one read the same.
    return s.empty() && format_ == Format::kJsonl
               ? std::nullopt
               : std::optional<std::string>(s);
  };
  Write({kEmployeeColumns.begin(), kEmployeeColumns.end()},
        {absl::StrCat(row.id), optional_id(row.manager_id), row.full_name,
         row.title, row.email, optional_text(row.department), row.hire_date,
         row.notes},
        {true, true, false, false, false, false, false, false});
}

void RecordWriter::DepartmentHeader() {
  if (format_ != Format::kCsv) return;
  std::vector<std::optional<std::string>> header;
  for (const char* c : kDepartmentColumns) header.emplace_back(c);
  Write({}, header, {});
}

void RecordWriter::Department(const DepartmentRow& row) {
  Write({kDepartmentColumns.begin(), kDepartmentColumns.end()},
        {row.name,
         row.parent.empty() && format_ == Format::kJsonl
             ? std::nullopt
             : std::optional<std::string>(row.parent),
         row.head_employee_id.has_value()
             ? std::optional<std::string>(absl::StrCat(*row.head_employee_id))
             : std::nullopt},
        {false, false, true});
}

}  // namespace pulse::write
