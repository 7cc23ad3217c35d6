#include "services/client/render.h"

#include <array>
#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace pulse::client {
namespace {

using pulse::orgdata::v1::Employee;

// Soft colours that stay readable with black text, one per department.
constexpr std::array<const char*, 12> kPalette = {
    "#cfe2f3", "#d9ead3", "#fff2cc", "#f4cccc", "#d9d2e9", "#fce5cd",
    "#d0e0e3", "#ead1dc", "#c9daf8", "#e6b8af", "#b6d7a8", "#ffe599"};

std::string DotEscape(absl::string_view s) {
  return absl::StrReplaceAll(s, {{"\\", "\\\\"}, {"\"", "\\\""}});
}

// Whether protobuf's JSON printer writes code point `cp` (at or above
// 0xa0) as an escape: characters that are invisible or reorder text, which
// it escapes to keep JavaScript consumers safe.
bool ProtobufEscapes(uint32_t cp) {
  switch (cp) {
    case 0x00ad:
    case 0x06dd:
    case 0x070f:
    case 0x17b4:
    case 0x17b5:
    case 0xfeff:
    case 0xfff9:
    case 0xfffa:
    case 0xfffb:
    case 0xe0001:
      return true;
    default:
      return (cp >= 0x0600 && cp <= 0x0603) || (cp >= 0x200b && cp <= 0x200f) ||
             (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2060 && cp <= 0x2064) ||
             (cp >= 0x206a && cp <= 0x206f) ||
             (cp >= 0x1d173 && cp <= 0x1d17a) ||
             (cp >= 0xe0020 && cp <= 0xe007f);
  }
}

void AppendUnicodeEscape(uint32_t unit, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  const char escaped[6] = {'\\', 'u', kHex[(unit >> 12) & 0xf],
                           kHex[(unit >> 8) & 0xf], kHex[(unit >> 4) & 0xf],
                           kHex[unit & 0xf]};
  out->append(escaped, sizeof(escaped));
}

// A JSON string as protobuf's printer writes it (`s` is valid UTF-8, as
// proto3 strings are).
void AppendJsonString(absl::string_view s, std::string* out) {
  out->push_back('"');
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"':
          out->append("\\\"");
          break;
        case '\\':
          out->append("\\\\");
          break;
        case '\b':
          out->append("\\b");
          break;
        case '\f':
          out->append("\\f");
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
        case '<':
        case '>':
        case 0x7f:
          AppendUnicodeEscape(c, out);
          break;
        default:
          if (c < 0x20) {
            AppendUnicodeEscape(c, out);
          } else {
            out->push_back(static_cast<char>(c));
          }
      }
      ++i;
      continue;
    }
    const size_t length = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
    if (i + length > s.size()) break;
    uint32_t cp = c & (length == 4 ? 0x07 : length == 3 ? 0x0f : 0x1f);
    for (size_t k = 1; k < length; ++k) {
      cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3f);
    }
    if (cp < 0xa0) {
      AppendUnicodeEscape(cp, out);  // The C1 controls.
    } else if (!ProtobufEscapes(cp)) {
      out->append(s.data() + i, length);
    } else if (cp < 0x10000) {
      AppendUnicodeEscape(cp, out);
    } else {
      AppendUnicodeEscape(0xd800 + ((cp - 0x10000) >> 10), out);
      AppendUnicodeEscape(0xdc00 + ((cp - 0x10000) & 0x3ff), out);
    }
    i += length;
  }
  out->push_back('"');
}

}  // namespace

void AppendJson(const Employee& node, std::string* out) {
  bool first = true;
  auto key = [&](const char* name) {
    out->append(first ? "{\"" : ",\"");
    first = false;
    out->append(name);
    out->append("\":");
  };
  auto int64 = [&](const char* name, int64_t v) {
    key(name);
    absl::StrAppend(out, "\"", v, "\"");
  };
  auto text = [&](const char* name, const std::string& v) {
    key(name);
    AppendJsonString(v, out);
  };
  if (node.id() != 0) int64("id", node.id());
  if (node.has_manager_id()) int64("manager_id", node.manager_id());
  if (node.depth() != 0) {
    key("depth");
    absl::StrAppend(out, node.depth());
  }
  if (!node.full_name().empty()) text("full_name", node.full_name());
  if (!node.title().empty()) text("title", node.title());
  if (!node.email().empty()) text("email", node.email());
  if (node.has_department_id()) int64("department_id", node.department_id());
  if (!node.hire_date().empty()) text("hire_date", node.hire_date());
  if (node.has_notes()) text("notes", node.notes());
  if (node.has_direct_reports()) {
    int64("direct_reports", node.direct_reports());
  }
  out->append(first ? "{}" : "}");
}

absl::StatusOr<Format> ParseFormat(absl::string_view name) {
  if (name == "text") return Format::kText;
  if (name == "dot") return Format::kDot;
  if (name == "json") return Format::kJson;
  return absl::InvalidArgumentError(
      absl::StrCat("--format must be text, dot or json, not '", name, "'"));
}

TreeRenderer::TreeRenderer(Format format, std::ostream* out, int max_depth)
    : format_(format), out_(out), max_depth_(max_depth) {}

void TreeRenderer::Begin() {
  if (format_ == Format::kDot) {
    buffer_ +=
        "digraph org {\n"
        "  graph [rankdir=TB, fontname=\"Helvetica\", ranksep=0.6];\n"
        "  node [shape=box, style=\"rounded,filled\", "
        "fontname=\"Helvetica\", fontsize=10];\n"
        "  edge [arrowhead=none, color=\"#888888\"];\n";
  }
}

void TreeRenderer::Add(const Employee& node) {
  switch (format_) {
    case Format::kText:
      AddText(node);
      break;
    case Format::kDot:
      AddDot(node);
      break;
    case Format::kJson:
      AppendJson(node, &buffer_);
      buffer_.push_back('\n');
      break;
  }
}

void TreeRenderer::Flush() {
  out_->write(buffer_.data(), static_cast<std::streamsize>(buffer_.size()));
  buffer_.clear();
  out_->flush();
}

void TreeRenderer::AddText(const Employee& node) {
  const size_t depth = static_cast<size_t>(std::max(node.depth(), 0));
  std::string& line = buffer_;
  if (depth > 0) {
    if (remaining_.size() <= depth) remaining_.resize(depth + 1, 0);
    for (size_t k = 1; k < depth; ++k) {
      absl::StrAppend(&line, remaining_[k] > 0 ? "│   " : "    ");
    }
    if (remaining_[depth] > 0) --remaining_[depth];
    absl::StrAppend(&line, remaining_[depth] > 0 ? "├── " : "└── ");
  }
  absl::StrAppend(&line, node.full_name(), " — ", node.title(), " #",
                  node.id());
  const int64_t reports = node.direct_reports();
  const bool cut = max_depth_ > 0 && node.depth() >= max_depth_;
  if (cut && reports > 0) {
    absl::StrAppend(&line, "  (+", reports,
                    reports == 1 ? " report)" : " reports)");
  }
  line.push_back('\n');
  if (remaining_.size() <= depth + 1) remaining_.resize(depth + 2, 0);
  remaining_[depth + 1] = cut ? 0 : reports;
}

void TreeRenderer::AddDot(const Employee& node) {
  if (node.depth() == 0) root_id_ = node.id();
  const char* colour =
      node.has_department_id()
          ? kPalette[static_cast<uint64_t>(node.department_id()) %
                     kPalette.size()]
          : "#eeeeee";
  absl::StrAppend(&buffer_, "  ", node.id(), " [label=\"",
                  DotEscape(node.full_name()), "\\n", DotEscape(node.title()),
                  "\", fillcolor=\"", colour, "\"];\n");
  if (node.id() != root_id_ && node.has_manager_id()) {
    absl::StrAppend(&buffer_, "  ", node.manager_id(), " -> ", node.id(),
                    ";\n");
  }
}

void TreeRenderer::End() {
  if (format_ == Format::kDot) buffer_ += "}\n";
  Flush();
}

}  // namespace pulse::client
