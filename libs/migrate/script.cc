#include "libs/migrate/script.h"

#include <openssl/evp.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace pulse::migrate {
namespace {

enum class Section { kHeader, kUpgrade, kDowngrade };

absl::Status LineError(absl::string_view file, int line,
                       absl::string_view message) {
  return absl::InvalidArgumentError(
      absl::StrCat(file, ":", line, ": ", message));
}

// Splits "-- key: value" into key and value; false when the comment is not
// a header key (free text, a capitalised word, no colon).
bool SplitHeaderLine(absl::string_view comment, absl::string_view* key,
                     absl::string_view* value) {
  const size_t colon = comment.find(':');
  if (colon == absl::string_view::npos || colon == 0) return false;
  absl::string_view k = comment.substr(0, colon);
  for (char c : k) {
    if (!(absl::ascii_islower(c) || c == '_')) return false;
  }
  *key = k;
  *value = absl::StripAsciiWhitespace(comment.substr(colon + 1));
  return true;
}

}  // namespace

bool IsValidRevisionId(absl::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  return std::all_of(id.begin(), id.end(),
                     [](char c) { return absl::ascii_isalnum(c) || c == '_'; });
}

std::string Sha256Hex(absl::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 0xf]);
  }
  return out;
}

absl::StatusOr<Script> ParseScript(absl::string_view text,
                                   absl::string_view file) {
  Script script;
  script.file = std::string(file);
  script.checksum = Sha256Hex(text);
  Section section = Section::kHeader;
  bool seen_revision = false, seen_down = false, seen_description = false,
       seen_breaking = false, seen_foreign_keys = false, seen_nolint = false;
  int line_number = 0;
  for (absl::string_view raw : absl::StrSplit(text, '\n')) {
    ++line_number;
    absl::string_view line = absl::StripTrailingAsciiWhitespace(raw);
    absl::string_view stripped = absl::StripLeadingAsciiWhitespace(line);
    if (absl::StartsWith(stripped, "-- +")) {
      absl::string_view marker = absl::StripAsciiWhitespace(stripped.substr(4));
      if (marker == "upgrade") {
        if (section != Section::kHeader) {
          return LineError(file, line_number, "'-- +upgrade' appears twice");
        }
        section = Section::kUpgrade;
      } else if (marker == "downgrade") {
        if (section != Section::kUpgrade) {
          return LineError(file, line_number,
                           "'-- +downgrade' must follow '-- +upgrade' and "
                           "appear once");
        }
        section = Section::kDowngrade;
        script.has_downgrade = true;
      } else {
        return LineError(file, line_number,
                         absl::StrCat("unknown section marker '-- +", marker,
                                      "' (expected +upgrade or +downgrade)"));
      }
      continue;
    }
    switch (section) {
      case Section::kUpgrade:
        absl::StrAppend(&script.upgrade_sql, raw, "\n");
        continue;
      case Section::kDowngrade:
        absl::StrAppend(&script.downgrade_sql, raw, "\n");
        continue;
      case Section::kHeader:
        break;
    }
    if (stripped.empty()) continue;
    if (!absl::StartsWith(stripped, "--")) {
      return LineError(file, line_number,
                       "SQL before '-- +upgrade': the header may hold only "
                       "'-- key: value' lines and comments");
    }
    absl::string_view key, value;
    if (!SplitHeaderLine(absl::StripAsciiWhitespace(stripped.substr(2)), &key,
                         &value)) {
      continue;
    }
    auto once = [&](bool* seen) -> absl::Status {
      if (*seen) {
        return LineError(file, line_number,
                         absl::StrCat("header key '", key, "' repeats"));
      }
      *seen = true;
      return absl::OkStatus();
    };
    if (key == "revision") {
      if (auto s = once(&seen_revision); !s.ok()) return s;
      if (!IsValidRevisionId(value)) {
        return LineError(file, line_number,
                         absl::StrCat("revision id '", value,
                                      "' must be 1 to 64 of [A-Za-z0-9_]"));
      }
      script.id = std::string(value);
    } else if (key == "down_revision" || key == "down_revisions") {
      if (auto s = once(&seen_down); !s.ok()) return s;
      if (value.empty() || value == "none" || value == "None") continue;
      for (absl::string_view part : absl::StrSplit(value, ',')) {
        part = absl::StripAsciiWhitespace(part);
        if (!IsValidRevisionId(part)) {
          return LineError(file, line_number,
                           absl::StrCat("down_revision '", part,
                                        "' is not a valid revision id"));
        }
        if (std::find(script.down_revisions.begin(),
                      script.down_revisions.end(),
                      part) != script.down_revisions.end()) {
          return LineError(
              file, line_number,
              absl::StrCat("down_revision '", part, "' is listed twice"));
        }
        script.down_revisions.emplace_back(part);
      }
    } else if (key == "description") {
      if (auto s = once(&seen_description); !s.ok()) return s;
      script.description = std::string(value);
    } else if (key == "breaking") {
      if (auto s = once(&seen_breaking); !s.ok()) return s;
      if (value == "true") {
        script.breaking = true;
      } else if (value != "false") {
        return LineError(
            file, line_number,
            absl::StrCat("breaking must be true or false, not '", value, "'"));
      }
    } else if (key == "foreign_keys") {
      if (auto s = once(&seen_foreign_keys); !s.ok()) return s;
      if (value == "off") {
        script.foreign_keys_off = true;
      } else if (value != "on") {
        return LineError(
            file, line_number,
            absl::StrCat("foreign_keys must be on or off, not '", value, "'"));
      }
    } else if (key == "nolint") {
      if (auto s = once(&seen_nolint); !s.ok()) return s;
      for (absl::string_view rule :
           absl::StrSplit(value, ',', absl::SkipWhitespace())) {
        script.nolint.emplace_back(absl::StripAsciiWhitespace(rule));
      }
    } else {
      return LineError(
          file, line_number,
          absl::StrCat("unknown header key '", key,
                       "' (expected revision, down_revision, description, "
                       "breaking, foreign_keys, nolint)"));
    }
  }
  if (!seen_revision) {
    return LineError(file, 1, "missing '-- revision: <id>' header");
  }
  if (!seen_down) {
    return LineError(file, 1,
                     "missing '-- down_revision:' header (use 'none' for a "
                     "first revision)");
  }
  if (section == Section::kHeader) {
    return LineError(file, line_number, "missing '-- +upgrade' section");
  }
  if (std::find(script.down_revisions.begin(), script.down_revisions.end(),
                script.id) != script.down_revisions.end()) {
    return LineError(file, 1, "a revision cannot be its own down_revision");
  }
  return script;
}

absl::StatusOr<std::vector<Script>> LoadScripts(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return absl::NotFoundError(
        absl::StrCat("migrations directory ", dir, " does not exist"));
  }
  std::vector<fs::path> paths;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.is_regular_file() && entry.path().extension() == ".sql") {
      paths.push_back(entry.path());
    }
  }
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("reading migrations directory ", dir, ": ", ec.message()));
  }
  std::sort(paths.begin(), paths.end());
  std::vector<Script> scripts;
  for (const fs::path& path : paths) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      return absl::UnavailableError(
          absl::StrCat("cannot read migration ", path.string()));
    }
    std::stringstream buffer;
    buffer << in.rdbuf();
    auto script = ParseScript(buffer.str(), path.filename().string());
    if (!script.ok()) return script.status();
    scripts.push_back(*std::move(script));
  }
  return scripts;
}

}  // namespace pulse::migrate
