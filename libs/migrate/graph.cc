#include "libs/migrate/graph.h"

#include <algorithm>
#include <queue>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace pulse::migrate {

absl::StatusOr<RevisionGraph> RevisionGraph::Build(
    std::vector<Script> scripts) {
  RevisionGraph graph;
  for (Script& script : scripts) {
    auto it = graph.scripts_.find(script.id);
    if (it != graph.scripts_.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("revision ", script.id, " is defined twice: in ",
                       it->second.file, " and in ", script.file));
    }
    std::string id = script.id;
    graph.scripts_.emplace(std::move(id), std::move(script));
  }
  for (const auto& [id, script] : graph.scripts_) {
    graph.children_[id];
    for (const std::string& parent : script.down_revisions) {
      if (graph.scripts_.find(parent) == graph.scripts_.end()) {
        return absl::InvalidArgumentError(
            absl::StrCat(script.file, ": down_revision ", parent,
                         " of revision ", id, " names no migration script"));
      }
      graph.children_[parent].push_back(id);
    }
    if (script.down_revisions.empty()) graph.bases_.push_back(id);
  }
  for (auto& [id, children] : graph.children_) {
    std::sort(children.begin(), children.end());
    if (children.empty()) graph.heads_.push_back(id);
  }

  // Kahn's algorithm, smallest id first among the ready ones.
  std::map<std::string, size_t, std::less<>> pending_parents;
  std::priority_queue<std::string, std::vector<std::string>,
                      std::greater<std::string>>
      ready;
  for (const auto& [id, script] : graph.scripts_) {
    pending_parents[id] = script.down_revisions.size();
    if (script.down_revisions.empty()) ready.push(id);
  }
  while (!ready.empty()) {
    std::string id = ready.top();
    ready.pop();
    for (const std::string& child : graph.children_[id]) {
      if (--pending_parents[child] == 0) ready.push(child);
    }
    graph.order_.push_back(std::move(id));
  }
  if (graph.order_.size() != graph.scripts_.size()) {
    std::vector<std::string> in_cycle;
    for (const auto& [id, count] : pending_parents) {
      if (count > 0) in_cycle.push_back(id);
    }
    return absl::InvalidArgumentError(
        absl::StrCat("the down_revision links form a cycle through revisions ",
                     absl::StrJoin(in_cycle, ", ")));
  }
  return graph;
}

const Script* RevisionGraph::Find(absl::string_view id) const {
  auto it = scripts_.find(id);
  return it == scripts_.end() ? nullptr : &it->second;
}

absl::StatusOr<std::string> RevisionGraph::Resolve(
    absl::string_view id_or_prefix) const {
  if (scripts_.count(id_or_prefix) > 0) return std::string(id_or_prefix);
  std::vector<std::string> matches;
  if (!id_or_prefix.empty()) {
    for (auto it = scripts_.lower_bound(id_or_prefix);
         it != scripts_.end() && absl::StartsWith(it->first, id_or_prefix);
         ++it) {
      matches.push_back(it->first);
    }
  }
  if (matches.size() == 1) return matches[0];
  if (matches.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "no revision matches '", id_or_prefix,
        "' (use head, heads, base, +N, -N, a revision id or its prefix)"));
  }
  return absl::InvalidArgumentError(absl::StrCat("'", id_or_prefix,
                                                 "' is ambiguous: it matches ",
                                                 absl::StrJoin(matches, ", ")));
}

std::vector<std::string> RevisionGraph::BranchPoints() const {
  std::vector<std::string> out;
  for (const auto& [id, children] : children_) {
    if (children.size() > 1) out.push_back(id);
  }
  return out;
}

const std::vector<std::string>& RevisionGraph::Children(
    absl::string_view id) const {
  static const std::vector<std::string> kNone;
  auto it = children_.find(id);
  return it == children_.end() ? kNone : it->second;
}

RevisionSet RevisionGraph::Closure(const std::vector<std::string>& ids) const {
  RevisionSet out;
  std::vector<std::string> stack(ids.begin(), ids.end());
  while (!stack.empty()) {
    std::string id = std::move(stack.back());
    stack.pop_back();
    const Script* script = Find(id);
    if (script == nullptr || !out.insert(id).second) continue;
    for (const std::string& parent : script->down_revisions) {
      stack.push_back(parent);
    }
  }
  return out;
}

std::vector<std::string> RevisionGraph::Maximal(
    const RevisionSet& applied) const {
  std::vector<std::string> out;
  for (const std::string& id : applied) {
    const auto& children = Children(id);
    bool has_applied_child =
        std::any_of(children.begin(), children.end(),
                    [&](const std::string& c) { return applied.count(c) > 0; });
    if (!has_applied_child) out.push_back(id);
  }
  return out;
}

bool RevisionGraph::IsDescendantOrSelf(absl::string_view descendant,
                                       absl::string_view ancestor) const {
  if (Find(descendant) == nullptr) return false;
  return Closure({std::string(descendant)}).count(std::string(ancestor)) > 0;
}

}  // namespace pulse::migrate
