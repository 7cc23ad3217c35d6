#include "services/client/render.h"

#include <array>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "google/protobuf/util/json_util.h"

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

}  // namespace

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
    *out_ << "digraph org {\n"
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
    case Format::kJson: {
      std::string json;
      google::protobuf::util::JsonPrintOptions options;
      options.preserve_proto_field_names = true;
      // A generated message always prints; the status carries nothing.
      (void)google::protobuf::util::MessageToJsonString(node, &json, options);
      *out_ << json << "\n";
      break;
    }
  }
  out_->flush();
}

void TreeRenderer::AddText(const Employee& node) {
  const size_t depth = static_cast<size_t>(std::max(node.depth(), 0));
  std::string line;
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
  *out_ << line << "\n";
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
  *out_ << "  " << node.id() << " [label=\"" << DotEscape(node.full_name())
        << "\\n"
        << DotEscape(node.title()) << "\", fillcolor=\"" << colour << "\"];\n";
  if (node.id() != root_id_ && node.has_manager_id()) {
    *out_ << "  " << node.manager_id() << " -> " << node.id() << ";\n";
  }
}

void TreeRenderer::End() {
  if (format_ == Format::kDot) *out_ << "}\n";
  out_->flush();
}

}  // namespace pulse::client
