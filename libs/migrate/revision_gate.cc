#include "libs/migrate/revision_gate.h"

#include <set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "libs/migrate/file_lock.h"
#include "libs/store/store.h"

namespace pulse::migrate {
namespace {

constexpr char kSelectGraphRow[] =
    "SELECT down_revisions, breaking FROM pulse_revision_graph "
    "WHERE revision = ?";
constexpr char kFix[] = "run 'pulse-schema upgrade head'";

}  // namespace

RevisionGate::RevisionGate(std::string required,
                           const RevisionGraph* local_graph)
    : required_(std::move(required)), local_graph_(local_graph) {}

bool RevisionGate::Lookup(store::Database& db, const std::string& id,
                          std::vector<std::string>* parents,
                          bool* breaking) const {
  // On any error, fall back to the local scripts below.
  auto exists = store::TableExists(db, kGraphTable);
  if (exists.ok() && *exists) {
    auto q = db.Prepare(kSelectGraphRow);
    if (q.ok()) {
      q->Bind(1, id);
      auto row = q->Step();
      if (row.ok() && *row) {
        *parents = absl::StrSplit(q->Text(0), ',', absl::SkipEmpty());
        *breaking = q->Int64(1) != 0;
        return true;
      }
    }
  }
  if (local_graph_ != nullptr) {
    if (const Script* script = local_graph_->Find(id)) {
      *parents = script->down_revisions;
      *breaking = script->breaking;
      return true;
    }
  }
  return false;
}

absl::Status RevisionGate::JudgeHead(store::Database& db,
                                     const std::string& current) const {
  // Walk up from `current`, remembering which revisions lie strictly above
  // the required one (they must not be breaking).
  std::set<std::string> seen;
  std::vector<std::string> stack = {current};
  std::vector<std::pair<std::string, bool>> walked;  // id, breaking
  bool found_required = false;
  while (!stack.empty()) {
    std::string id = std::move(stack.back());
    stack.pop_back();
    if (!seen.insert(id).second) continue;
    if (id == required_) {
      found_required = true;
      continue;  // Ancestors of the required revision do not matter.
    }
    std::vector<std::string> parents;
    bool breaking = false;
    if (!Lookup(db, id, &parents, &breaking)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the database is at revision ", current,
          ", which this service "
          "cannot place in the revision graph (it needs ",
          required_,
          " or a non-breaking descendant); check the schema service and ",
          "the migrations directory"));
    }
    walked.emplace_back(id, breaking);
    for (std::string& p : parents) stack.push_back(std::move(p));
  }
  if (!found_required) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the database is at revision ", current, ", which is not ", required_,
        " or a descendant of it (older, or on another branch); ", kFix));
  }
  // A breaking revision matters only if it descends from the required one
  // (one on a side branch merged in later changes nothing this service was
  // built to read).
  for (const auto& [id, breaking] : walked) {
    if (!breaking) continue;
    std::set<std::string> ancestors;
    std::vector<std::string> up = {id};
    bool descends = false;
    while (!up.empty() && !descends) {
      std::string a = std::move(up.back());
      up.pop_back();
      if (!ancestors.insert(a).second) continue;
      if (a == required_) descends = true;
      std::vector<std::string> parents;
      bool b = false;
      if (Lookup(db, a, &parents, &b)) {
        for (std::string& p : parents) up.push_back(std::move(p));
      }
    }
    if (descends) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the database is at revision ", current, ", past breaking revision ",
          id, "; this service reads revision ", required_,
          " and its non-breaking descendants: deploy a release built for ", id,
          " or downgrade the database"));
    }
  }
  return absl::OkStatus();
}

absl::Status RevisionGate::Judge(store::Database& db,
                                 const RevisionState& state) const {
  // A marker whose migration holds no lock was left by a killed run: each
  // of its revisions committed whole with the revision state, so the
  // recorded revision is the database's.
  if (state.migration_in_progress &&
      FileLock::IsHeld(MigrationLockPath(db.filename())).value_or(true)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "a migration (", state.migration_target,
        ") is in progress on the "
        "database, at revision ",
        state.current.empty() ? "base" : absl::StrJoin(state.current, ", "),
        "; this service needs ", required_, ": retry when it has finished"));
  }
  if (state.current.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the database is at base (no schema); this service needs revision ",
        required_, " or a descendant: ", kFix));
  }
  const std::string key = absl::StrJoin(state.current, ",");
  {
    absl::MutexLock lock(&mu_);
    auto it = verdicts_.find(key);
    if (it != verdicts_.end()) return it->second;
  }
  absl::Status verdict = absl::OkStatus();
  for (const std::string& current : state.current) {
    verdict = JudgeHead(db, current);
    if (!verdict.ok()) break;
  }
  // Only acceptances are cached: a refusal may turn into an acceptance when
  // the database learns more of the graph.
  if (verdict.ok()) {
    absl::MutexLock lock(&mu_);
    verdicts_[key] = verdict;
  }
  return verdict;
}

absl::Status RevisionGate::Check(store::Database& db) const {
  auto state = ReadRevisionState(db);
  if (!state.ok()) return state.status();
  return Judge(db, *state);
}

}  // namespace pulse::migrate
