#include "libs/hierarchy/hierarchy.h"

#include <sqlite3.h>

#include <array>
#include <cstring>
#include <limits>
#include <map>
#include <optional>
#include <set>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "libs/store/employee_columns.h"
#include "libs/store/path.h"

namespace pulse::hierarchy {
namespace {

void BindText(sqlite3_stmt* statement, int index, const std::string& text) {
  sqlite3_bind_text(statement, index, text.data(),
                    static_cast<int>(text.size()), SQLITE_TRANSIENT);
}

// The employee's stored fields after id and manager_id
// (store::kEmployeeColumns from kFirstField on), in the order every query
// below selects them, and their positions in that list. notes, last, is
// selected only when the schema has it.
constexpr size_t kFirstField = 2;
enum FieldColumn {
  kFullName,
  kTitle,
  kEmail,
  kDepartmentId,
  kHireDate,
  kNotes
};
constexpr bool FieldIs(FieldColumn field, const char* name) {
  return store::SameName(store::kEmployeeColumns[kFirstField + field].column,
                         name);
}
static_assert(FieldIs(kFullName, "full_name") && FieldIs(kTitle, "title") &&
                  FieldIs(kEmail, "email") &&
                  FieldIs(kDepartmentId, "department_id") &&
                  FieldIs(kHireDate, "hire_date") && FieldIs(kNotes, "notes") &&
                  kFirstField + kNotes + 1 == store::kEmployeeColumns.size(),
              "the readers below read the fields at these positions");
// Where the fields start in a subtree query's rows: after id and depth (a
// walk) or id and org_path (the index), then manager_id.
constexpr int kFirstFieldColumn = 3;

// ", PREFIXfull_name, PREFIXtitle, ..." (+ ", PREFIXnotes").
std::string FieldList(absl::string_view prefix, bool notes) {
  std::string list;
  const size_t end = kFirstField + kNotes + (notes ? 1 : 0);
  for (size_t i = kFirstField; i < end; ++i) {
    absl::StrAppend(&list, ", ", prefix, store::kEmployeeColumns[i].column);
  }
  return list;
}
constexpr char kHasNotes[] =
    "SELECT count(*) FROM pragma_table_info('employees') WHERE name = 'notes'";
constexpr char kHasPath[] =
    "SELECT count(*) FROM pragma_table_info('employees') "
    "WHERE name = 'org_path'";
constexpr char kSelectPathAndManager[] =
    "SELECT org_path, manager_id FROM employees WHERE id = ?";
constexpr char kSelectManager[] =
    "SELECT manager_id FROM employees WHERE id = ?";
constexpr char kHasGeneration[] =
    "SELECT count(*) FROM sqlite_schema WHERE name = 'org_path_generation'";
constexpr char kHasSearch[] =
    "SELECT count(*) FROM sqlite_schema WHERE name = 'employee_search'";
constexpr char kSelectGeneration[] = "SELECT token FROM org_path_generation";
// Characters per path component.
constexpr size_t kComponent = store::kPathComponentChars;
using store::ComponentId;
// Checked paths kept for a pool: at most this many (7/8 of 2^18, so the
// table stays at 2^18 slots of 16 bytes, 4 MiB) and this many bytes of
// path text (a million-person organisation has 130,000 managers, 5.5 MB).
constexpr size_t kMaxCheckedPaths = 229000;
constexpr size_t kMaxCheckedBytes = 16 << 20;
// How many SQLite VM steps run between two cancellation checks.
constexpr int kProgressSteps = 20000;

// Reads a row of SelectEmployee.
Employee ReadEmployee(const store::Statement& q, bool notes) {
  Employee e;
  e.id = q.Int64(0);
  e.manager_id = q.OptionalInt64(1);
  constexpr int kField = 2;
  e.full_name = q.Text(kField + kFullName);
  e.title = q.Text(kField + kTitle);
  e.email = q.Text(kField + kEmail);
  e.department_id = q.OptionalInt64(kField + kDepartmentId);
  e.hire_date = q.Text(kField + kHireDate);
  if (notes) e.notes = q.OptionalText(kField + kNotes);
  return e;
}

std::string SelectEmployee(bool notes) {
  return absl::StrCat("SELECT id, manager_id", FieldList("", notes),
                      " FROM employees WHERE id = ?");
}

// The subtree walk. The recursive CTE's queue is the traversal frontier:
// ordered by depth descending it is a stack (depth-first pre-order, siblings
// by id); unordered it is a FIFO queue (breadth-first). The recursive step
// finds children through the employees_manager_id index. Rows carry depth
// and (with fields) the employee columns, so the outer SELECT reads the
// queue in order without a join.
std::string SubtreeSql(Order order, bool fields, bool notes, bool reports) {
  const std::string cols =
      absl::StrCat(", e.manager_id", fields ? FieldList("e.", notes) : "");
  const std::string names =
      absl::StrCat(", manager_id", fields ? FieldList("", notes) : "");
  return absl::StrCat(
      "WITH RECURSIVE sub(id, depth", names, ") AS (", "SELECT e.id, 0", cols,
      " FROM employees e WHERE e.id = ?1 ", "UNION ALL ",
      "SELECT e.id, sub.depth + 1", cols,
      " FROM sub JOIN employees e ON e.manager_id = sub.id ",
      // The root reappearing below itself means a cycle: stop there (the
      // reader reports it) instead of looping.
      "WHERE sub.depth < ?2 AND (sub.id <> ?1 OR sub.depth = 0) ",
      order == Order::kDepthFirst ? "ORDER BY 2 DESC, 1 ASC" : "",
      ") SELECT id, depth", names,
      // A covering count on employees_manager_id.
      reports ? ", (SELECT count(*) FROM employees c WHERE c.manager_id = "
                "sub.id)"
              : "",
      " FROM sub");
}

// The subtree as one range [?1, ?2) of the covering index
// employees_org_path: depth-first pre-order, siblings by ascending id, no
// table access.
std::string PathSubtreeSql(bool fields, bool notes, bool reports) {
  return absl::StrCat(
      "SELECT id, org_path, manager_id", fields ? FieldList("", notes) : "",
      reports ? ", (SELECT count(*) FROM employees c WHERE c.manager_id = "
                "employees.id)"
              : "",
      " FROM employees INDEXED BY employees_org_path "
      "WHERE org_path >= ?1 AND org_path < ?2 ORDER BY org_path");
}

int ProgressHandler(void* arg) {
  const CancelFn* cancelled = static_cast<const CancelFn*>(arg);
  return (*cancelled)() ? 1 : 0;
}

}  // namespace

bool CheckedPaths::Find(int64_t generation, int64_t id,
                        std::string* path) const {
  absl::ReaderMutexLock lock(&mu_);
  const std::optional<absl::string_view> known = Lookup(generation, id);
  if (known.has_value()) path->assign(known->data(), known->size());
  return known.has_value();
}

bool CheckedPaths::Has(int64_t generation, int64_t id,
                       absl::string_view path) const {
  absl::ReaderMutexLock lock(&mu_);
  return Lookup(generation, id) == path;
}

void CheckedPaths::Clear() {
  absl::MutexLock lock(&mu_);
  generation_.reset();
  paths_.clear();
  text_.clear();
}

void CheckedPaths::Add(int64_t generation, bool adopt,
                       const std::vector<PathSlice>& entries,
                       absl::string_view text) {
  {
    // Reads mostly meet managers met before: then the table is only
    // read, and readers do not wait for one another.
    absl::ReaderMutexLock lock(&mu_);
    if (generation_ != generation && !adopt) return;
    if (generation_ == generation) {
      bool known = true;
      for (const PathSlice& e : entries) {
        known = known && paths_.contains(e.id);
      }
      if (known) return;
    }
  }
  absl::MutexLock lock(&mu_);
  if (generation_ != generation) {
    if (!adopt) return;
    generation_ = generation;
    paths_.clear();
    text_.clear();
  }
  for (const PathSlice& e : entries) {
    if (paths_.size() >= kMaxCheckedPaths ||
        text_.size() + e.length > kMaxCheckedBytes) {
      return;
    }
    auto [it, added] = paths_.try_emplace(e.id);
    if (!added) continue;
    it->second = {static_cast<uint32_t>(text_.size()), e.length};
    text_.append(text.data() + e.offset, e.length);
  }
}

std::optional<absl::string_view> CheckedPaths::Lookup(int64_t generation,
                                                      int64_t id) const {
  if (generation_ != generation) return std::nullopt;
  auto it = paths_.find(id);
  if (it == paths_.end()) return std::nullopt;
  return absl::string_view(text_).substr(it->second.first, it->second.second);
}

EmployeeView ViewOf(const Employee& e) {
  EmployeeView view;
  view.id = e.id;
  view.manager_id = e.manager_id;
  view.depth = e.depth;
  view.full_name = e.full_name;
  view.title = e.title;
  view.email = e.email;
  view.department_id = e.department_id;
  view.hire_date = e.hire_date;
  if (e.notes.has_value()) view.notes = *e.notes;
  view.direct_reports = e.direct_reports;
  view.outside_filter = e.outside_filter;
  return view;
}

void CopyView(const EmployeeView& v, Employee* e) {
  auto assign = [](absl::string_view from, std::string* to) {
    to->assign(from.data(), from.size());
  };
  e->id = v.id;
  e->manager_id = v.manager_id;
  e->depth = v.depth;
  assign(v.full_name, &e->full_name);
  assign(v.title, &e->title);
  assign(v.email, &e->email);
  e->department_id = v.department_id;
  assign(v.hire_date, &e->hire_date);
  if (v.notes.has_value()) {
    if (!e->notes.has_value()) e->notes.emplace();
    assign(*v.notes, &*e->notes);
  } else {
    e->notes.reset();
  }
  e->direct_reports = v.direct_reports;
  e->outside_filter = v.outside_filter;
}

absl::Status ValidateSubtreeRequest(const SubtreeRequest& request) {
  if (request.root_id <= 0) {
    return absl::InvalidArgumentError("root_id must be a positive employee id");
  }
  if (request.max_depth < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_depth must be 0 (unlimited) or positive, not ",
                     request.max_depth));
  }
  if (request.max_nodes < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_nodes must be 0 (unlimited) or positive, not ",
                     request.max_nodes));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Snapshot>> Snapshot::Begin(
    store::ConnectionPool::Lease lease, ReadCaches* caches) {
  std::unique_ptr<Snapshot> snapshot(new Snapshot(std::move(lease)));
  snapshot->caches_ = caches;
  if (caches != nullptr) snapshot->checked_paths_ = &caches->checked_paths;
  auto read = snapshot->lease_->BeginRead();
  if (!read.ok()) return store::WithContext(read.status(), "beginning a read");
  snapshot->data_version_ = read->data_version;
  return snapshot;
}

Snapshot::~Snapshot() {
  lease_->ResetAll();
  // A read-only transaction has nothing to lose; SQLite may already have
  // ended it after an interrupt.
  auto commit = lease_->Prepare("COMMIT");
  if (commit.ok()) (*commit)->Run().IgnoreError();
}

absl::StatusOr<SchemaFacts> Snapshot::Facts() {
  if (facts_.has_value()) return *facts_;
  if (caches_ != nullptr) {
    if (auto kept = caches_->schema_facts.Find(*lease_, data_version_)) {
      facts_ = *kept;
      return *facts_;
    }
  }
  // Whether the count query `sql` counts more than none.
  auto any = [this](const char* sql) -> absl::StatusOr<bool> {
    auto q = lease_->Prepare(sql);
    if (!q.ok()) return q.status();
    auto row = (*q)->Step();
    if (!row.ok()) return row.status();
    const bool found = *row && (*q)->Int64(0) > 0;
    (*q)->Reset();
    return found;
  };
  SchemaFacts facts;
  auto notes = any(kHasNotes);
  auto path = notes.ok() ? any(kHasPath) : notes;
  auto generation = path.ok() ? any(kHasGeneration) : path;
  auto search = generation.ok() ? any(kHasSearch) : generation;
  if (!search.ok()) {
    return store::WithContext(search.status(), "reading the employees schema");
  }
  facts.has_notes = *notes;
  facts.has_path = *path;
  facts.has_generation = *generation;
  facts.has_search = *search;
  if (caches_ != nullptr) {
    caches_->schema_facts.Put(*lease_, data_version_,
                              std::make_shared<const SchemaFacts>(facts));
  }
  facts_ = facts;
  return facts;
}

absl::StatusOr<bool> Snapshot::HasNotes() {
  auto facts = Facts();
  if (!facts.ok()) return facts.status();
  return facts->has_notes;
}

absl::StatusOr<bool> Snapshot::HasPathIndex() {
  auto facts = Facts();
  if (!facts.ok()) return facts.status();
  return facts->has_path;
}

CheckedPaths* Snapshot::Checked() {
  if (checked_paths_ == nullptr) return nullptr;
  if (!generation_.has_value()) {
    // Without the token (a schema before revision 9b4e2d7c5a13), or when
    // it cannot be read, nothing checked is kept.
    auto facts = Facts();
    if (!facts.ok() || !facts->has_generation) {
      checked_paths_ = nullptr;
      return nullptr;
    }
    auto q = lease_->Prepare(kSelectGeneration);
    auto row = q.ok() ? (*q)->Step() : q.status();
    if (!row.ok() || !*row) {
      if (q.ok()) (*q)->Reset();
      checked_paths_ = nullptr;
      return nullptr;
    }
    generation_ = (*q)->Int64(0);
    (*q)->Reset();
  }
  return checked_paths_;
}

absl::StatusOr<std::string> Snapshot::RootPath(int64_t root_id,
                                               bool* checked_before) {
  *checked_before = false;
  auto corrupt = [root_id](absl::string_view why) {
    return absl::DataLossError(absl::StrCat(
        "the organisation above employee ", root_id, " is inconsistent (", why,
        "): a manager cycle or a stale subtree index; fix manager_id in the "
        "data"));
  };
  auto failed = [root_id](const absl::Status& status) {
    return store::WithContext(status,
                              absl::StrCat("reading employee ", root_id));
  };
  CheckedPaths* checked = Checked();
  // The root's row is read even when its path was checked before: a row
  // replaced (INSERT OR REPLACE, which fires no delete trigger) under the
  // same id changes no other path, so not the generation either.
  std::string path, known;
  const bool checked_root =
      checked != nullptr && checked->Find(*generation_, root_id, &known);
  auto q = lease_->Prepare(kSelectPathAndManager);
  if (!q.ok()) return q.status();
  (*q)->Bind(1, root_id);
  auto row = (*q)->Step();
  if (!row.ok()) return failed(row.status());
  if (!*row) {
    return absl::NotFoundError(absl::StrCat("no employee with id ", root_id));
  }
  if ((*q)->IsNull(0)) {
    (*q)->Reset();
    return corrupt("it has no subtree path");
  }
  path = (*q)->Text(0);
  std::optional<int64_t> manager = (*q)->OptionalInt64(1);
  (*q)->Reset();
  if (checked_root && path == known) {
    *checked_before = true;
    return path;
  }
  const size_t levels = path.size() / kComponent;
  if (path.size() % kComponent != 0 || ComponentId(path, 1) != root_id) {
    return corrupt("its path does not end in its id");
  }
  // Every manager above the root must be the next component up, and the
  // top one must have no manager: that rules out a cycle through the root.
  // The walk stops early at a manager already checked in this generation
  // with the same path.
  std::vector<PathSlice> walked = {
      {root_id, 0, static_cast<uint32_t>(path.size())}};
  auto up = lease_->Prepare(kSelectManager);
  if (!up.ok()) return up.status();
  bool reached_checked = false;
  for (size_t k = 2; k <= levels; ++k) {
    if (!manager.has_value() || *manager != ComponentId(path, k)) {
      return corrupt("its managers do not match its path");
    }
    const size_t length = path.size() - kComponent * (k - 1);
    if (checked != nullptr &&
        checked->Has(*generation_, *manager,
                     absl::string_view(path).substr(0, length))) {
      reached_checked = true;
      break;
    }
    walked.push_back({*manager, 0, static_cast<uint32_t>(length)});
    (*up)->Reset();
    (*up)->Bind(1, *manager);
    auto found = (*up)->Step();
    if (!found.ok()) return failed(found.status());
    if (!*found) return corrupt("a manager does not exist");
    manager = (*up)->OptionalInt64(0);
  }
  (*up)->Reset();
  if (!reached_checked && manager.has_value()) {
    return corrupt("its managers do not match its path");
  }
  // The root and every manager walked past are now checked; their paths
  // are prefixes of the root's.
  if (checked != nullptr) {
    checked->Add(*generation_, /*adopt=*/true, walked, path);
  }
  return path;
}

absl::StatusOr<Employee> Snapshot::GetEmployee(int64_t id) {
  auto notes = HasNotes();
  if (!notes.ok()) return notes.status();
  auto q = lease_->Prepare(SelectEmployee(*notes));
  if (!q.ok()) return q.status();
  (*q)->Bind(1, id);
  auto row = (*q)->Step();
  if (!row.ok()) {
    return store::WithContext(row.status(),
                              absl::StrCat("reading employee ", id));
  }
  if (!*row) {
    return absl::NotFoundError(absl::StrCat("no employee with id ", id));
  }
  Employee e = ReadEmployee(**q, *notes);
  (*q)->Reset();
  return e;
}

absl::StatusOr<std::vector<Employee>> Snapshot::DirectReports(
    int64_t manager_id, int limit,
    const std::optional<ReportsPosition>& after) {
  auto manager = GetEmployee(manager_id);
  if (!manager.ok()) return manager.status();
  auto notes = HasNotes();
  if (!notes.ok()) return notes.status();
  // The employees_manager_id index finds the reports; a manager has few
  // enough that sorting them by name is cheap.
  auto q = lease_->Prepare(absl::StrCat(
      "SELECT id, manager_id", FieldList("", *notes),
      ", (SELECT count(*) FROM employees c WHERE c.manager_id = e.id) FROM "
      "employees e WHERE manager_id = ?1 AND (?2 IS NULL OR (full_name, id) "
      "> (?2, ?3)) ORDER BY full_name, id LIMIT ?4"));
  if (!q.ok()) return q.status();
  (*q)->Bind(1, manager_id);
  if (after.has_value()) {
    (*q)->Bind(2, after->full_name);
    (*q)->Bind(3, after->id);
  } else {
    (*q)->BindNull(2);
    (*q)->BindNull(3);
  }
  (*q)->Bind(4, static_cast<int64_t>(limit));
  const int count_column = 2 + kNotes + (*notes ? 1 : 0);
  std::vector<Employee> reports;
  absl::Status s = (*q)->ForEachRow([&] {
    Employee& e = reports.emplace_back(ReadEmployee(**q, *notes));
    e.depth = 1;
    e.direct_reports = (*q)->Int64(count_column);
    return absl::OkStatus();
  });
  if (!s.ok()) {
    return store::WithContext(
        s, absl::StrCat("reading the reports of employee ", manager_id));
  }
  return reports;
}

absl::StatusOr<std::vector<SearchHit>> Snapshot::Search(
    const SearchRequest& request) {
  // The FTS5 query: every word a prefix ("ann"* "lee"*).
  std::vector<std::string> words;
  for (absl::string_view w : absl::StrSplit(
           request.query, absl::ByAnyChar(" \t\r\n"), absl::SkipEmpty())) {
    words.push_back(
        absl::StrCat("\"", absl::StrReplaceAll(w, {{"\"", "\"\""}}), "\""));
  }
  if (words.empty()) {
    return absl::InvalidArgumentError("query must have at least one word");
  }
  const std::string prefixes = absl::StrJoin(words, "* ") + "*";
  const std::string whole_name =
      absl::StrJoin(absl::StrSplit(request.query, absl::ByAnyChar(" \t\r\n"),
                                   absl::SkipEmpty()),
                    " ");
  auto facts = Facts();
  if (!facts.ok()) return facts.status();
  if (!facts->has_search) {
    return absl::FailedPreconditionError(
        "the database has no search index (revision bdc1691daa1a): run "
        "'pulse-schema upgrade head'");
  }
  std::string subtree_path;
  if (request.manager_id.has_value()) {
    auto q = lease_->Prepare(kSelectPathAndManager);
    if (!q.ok()) return q.status();
    (*q)->Bind(1, *request.manager_id);
    auto row = (*q)->Step();
    if (!row.ok()) return row.status();
    if (!*row) {
      return absl::NotFoundError(
          absl::StrCat("no employee with id ", *request.manager_id));
    }
    subtree_path = (*q)->Text(0);
    (*q)->Reset();
  }
  if (request.department_id.has_value()) {
    if (absl::Status s = DepartmentMustExist(*request.department_id); !s.ok()) {
      return s;
    }
  }
  auto notes = HasNotes();
  if (!notes.ok()) return notes.status();
  std::vector<SearchHit> hits;
  const SearchRequest::Position from =
      request.after.value_or(SearchRequest::Position{0, 0});
  for (int tier = from.tier; tier <= 1; ++tier) {
    const int64_t left = request.limit - static_cast<int64_t>(hits.size());
    if (left <= 0) break;
    // Exact names through employees_full_name; the rest from the FTS5
    // index, which hands out its matches in rowid order, so that LIMIT
    // ends the read.
    const std::string filters =
        " AND (?4 IS NULL OR e.department_id = ?4) AND (?5 IS NULL OR "
        "substr(e.org_path, 1, length(?5)) = ?5) ";
    auto q = lease_->Prepare(
        tier == 0
            ? absl::StrCat("SELECT e.id, e.manager_id", FieldList("e.", *notes),
                           " FROM employees e WHERE e.full_name = ?2 COLLATE "
                           "NOCASE AND e.id > ?3",
                           filters, "ORDER BY e.id LIMIT ?6")
            : absl::StrCat("SELECT e.id, e.manager_id", FieldList("e.", *notes),
                           " FROM employee_search s JOIN employees e ON e.id "
                           "= s.rowid WHERE employee_search MATCH ?1 AND "
                           "e.full_name <> ?2 COLLATE NOCASE AND s.rowid > ?3",
                           filters, "ORDER BY s.rowid LIMIT ?6"));
    if (!q.ok()) return q.status();
    (*q)->Bind(1, prefixes);
    (*q)->Bind(2, whole_name);
    (*q)->Bind(3, tier == from.tier ? from.id : int64_t{0});
    (*q)->Bind(4, request.department_id);
    if (request.manager_id.has_value()) {
      (*q)->Bind(5, subtree_path);
    } else {
      (*q)->BindNull(5);
    }
    (*q)->Bind(6, left);
    absl::Status s = (*q)->ForEachRow([&] {
      SearchHit& hit = hits.emplace_back();
      hit.employee = ReadEmployee(**q, *notes);
      hit.position = {tier, hit.employee.id};
      return absl::OkStatus();
    });
    if (!s.ok()) {
      if (store::SqliteCode(s) == SQLITE_ERROR) {
        // FTS5 refuses the expression (a word of nothing but separators).
        return absl::InvalidArgumentError(
            absl::StrCat("query '", request.query,
                         "' cannot be searched: ", store::SqliteMessage(s)));
      }
      return store::WithContext(s, "searching employees");
    }
  }
  return hits;
}

absl::Status Snapshot::DepartmentMustExist(int64_t id) {
  auto q = lease_->Prepare("SELECT 1 FROM departments WHERE id = ?");
  if (!q.ok()) return q.status();
  (*q)->Bind(1, id);
  auto row = (*q)->Step();
  if (!row.ok()) return row.status();
  (*q)->Reset();
  if (!*row)
    return absl::NotFoundError(absl::StrCat("no department with id ", id));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Department>> Snapshot::Departments() {
  auto q = lease_->Prepare(
      "SELECT d.id, d.name, d.parent_id, d.head_employee_id, "
      "coalesce(h.full_name, ''), (SELECT count(*) FROM employees e WHERE "
      "e.department_id = d.id) FROM departments d LEFT JOIN employees h ON "
      "h.id = d.head_employee_id ORDER BY d.name, d.id");
  if (!q.ok()) return q.status();
  std::vector<Department> all;
  absl::Status s = (*q)->ForEachRow([&] {
    Department& d = all.emplace_back();
    d.id = (*q)->Int64(0);
    d.name = (*q)->Text(1);
    d.parent_id = (*q)->OptionalInt64(2);
    d.head_employee_id = (*q)->OptionalInt64(3);
    d.head_employee_name = (*q)->Text(4);
    d.direct_headcount = (*q)->Int64(5);
    return absl::OkStatus();
  });
  if (!s.ok()) return store::WithContext(s, "reading the departments");
  // Children by parent, in name order (all is); a parent that does not
  // exist makes a top department, as the foreign key's SET NULL would.
  std::map<int64_t, size_t> index;
  for (size_t i = 0; i < all.size(); ++i) index[all[i].id] = i;
  std::map<int64_t, std::vector<size_t>> children;
  std::vector<size_t> tops;
  for (size_t i = 0; i < all.size(); ++i) {
    const auto& parent = all[i].parent_id;
    if (parent.has_value() && index.count(*parent) != 0) {
      children[*parent].push_back(i);
    } else {
      tops.push_back(i);
    }
  }
  // Pre-order by an explicit stack; then totals, children before parents
  // (reverse pre-order).
  std::vector<Department> out;
  out.reserve(all.size());
  std::vector<std::pair<size_t, int32_t>> stack;
  for (auto it = tops.rbegin(); it != tops.rend(); ++it)
    stack.push_back({*it, 0});
  while (!stack.empty()) {
    const auto [i, depth] = stack.back();
    stack.pop_back();
    Department& d = out.emplace_back(all[i]);
    d.depth = depth;
    d.total_headcount = d.direct_headcount;
    auto kids = children.find(d.id);
    if (kids == children.end()) continue;
    for (auto it = kids->second.rbegin(); it != kids->second.rend(); ++it) {
      stack.push_back({*it, depth + 1});
    }
  }
  if (out.size() != all.size()) {
    std::vector<int64_t> looped;
    std::set<int64_t> reached;
    for (const Department& d : out) reached.insert(d.id);
    for (const Department& d : all) {
      if (reached.count(d.id) == 0) looped.push_back(d.id);
    }
    return absl::DataLossError(
        absl::StrCat("the parents of departments ", absl::StrJoin(looped, ", "),
                     " form a cycle; fix departments.parent_id in the data"));
  }
  std::map<int64_t, size_t> at;
  for (size_t i = 0; i < out.size(); ++i) at[out[i].id] = i;
  for (size_t i = out.size(); i-- > 0;) {
    const auto& parent = out[i].parent_id;
    if (parent.has_value() && at.count(*parent) != 0) {
      out[at[*parent]].total_headcount += out[i].total_headcount;
    }
  }
  return out;
}

absl::StatusOr<std::vector<Employee>> Snapshot::ChainOfCommand(int64_t id) {
  auto employee = GetEmployee(id);
  if (!employee.ok()) return employee.status();
  std::vector<Employee> chain;
  std::set<int64_t> seen = {id};
  std::optional<int64_t> next = employee->manager_id;
  while (next.has_value()) {
    if (!seen.insert(*next).second) {
      return absl::DataLossError(absl::StrCat(
          "the managers above employee ", id, " form a cycle through employee ",
          *next, "; fix manager_id in the data"));
    }
    auto manager = GetEmployee(*next);
    if (!manager.ok()) {
      if (absl::IsNotFound(manager.status())) {
        return absl::DataLossError(
            absl::StrCat("employee ", chain.empty() ? id : chain.back().id,
                         " has manager ", *next, ", who does not exist"));
      }
      return manager.status();
    }
    manager->depth = -static_cast<int32_t>(chain.size() + 1);
    next = manager->manager_id;
    chain.push_back(*std::move(manager));
  }
  return chain;
}

absl::StatusOr<std::unique_ptr<SubtreeReader>> Snapshot::Open(
    const SubtreeRequest& request, bool with_fields) {
  if (absl::Status s = ValidateSubtreeRequest(request); !s.ok()) return s;
  auto facts = Facts();
  if (!facts.ok()) return facts.status();
  // The index range holds the whole subtree in depth-first order; a
  // depth-limited read skips the ranges below its last level. Breadth-first
  // order comes from the recursive walk's FIFO queue.
  const bool by_path = facts->has_path && request.order == Order::kDepthFirst;
  const bool with_notes = with_fields && facts->has_notes;
  std::unique_ptr<SubtreeReader> reader(
      new SubtreeReader(this, request, with_fields, with_notes, by_path));
  {
    if (by_path) {
      bool checked_before = false;
      auto path = RootPath(request.root_id, &checked_before);
      if (!path.ok()) return path.status();
      if (!checked_before) reader->checked_ = Checked();
      reader->root_path_ = *std::move(path);
      reader->path_end_ = reader->root_path_ + "g";
    }
    // The texts are made once: they are also the statement cache's keys.
    static const auto* const kPathSql = [] {
      auto* sql = new std::array<std::string, 8>;
      for (int i = 0; i < 8; ++i) {
        (*sql)[i] = PathSubtreeSql(i & 1, i & 2, i & 4);
      }
      return sql;
    }();
    static const auto* const kWalkSql = [] {
      auto* sql = new std::array<std::string, 16>;
      for (int i = 0; i < 16; ++i) {
        (*sql)[i] =
            SubtreeSql(i & 8 ? Order::kBreadthFirst : Order::kDepthFirst, i & 1,
                       i & 2, i & 4);
      }
      return sql;
    }();
    const int variant = (with_fields ? 1 : 0) | (with_notes ? 2 : 0) |
                        (request.with_direct_reports ? 4 : 0);
    auto q = lease_->Prepare(
        by_path ? (*kPathSql)[variant]
                : (*kWalkSql)[variant |
                              (request.order == Order::kBreadthFirst ? 8 : 0)]);
    if (!q.ok()) {
      return store::WithContext(
          q.status(), absl::StrCat("reading the subtree of ", request.root_id));
    }
    if (by_path) {
      (*q)->Bind(1, reader->root_path_);
      (*q)->Bind(2, reader->path_end_);
    } else {
      (*q)->Bind(1, request.root_id);
      (*q)->Bind(2, request.max_depth == 0 ? std::numeric_limits<int32_t>::max()
                                           : request.max_depth);
    }
    reader->statement_ = (*q)->handle();
  }
  return reader;
}

absl::StatusOr<std::unique_ptr<SubtreeReader>> Snapshot::OpenSubtree(
    const SubtreeRequest& request) {
  return Open(request, /*with_fields=*/true);
}

SubtreeReader::~SubtreeReader() {
  if (statement_ != nullptr) sqlite3_reset(statement_);
}

absl::StatusOr<bool> SubtreeReader::Step(EmployeeView& e) {
  // Columns are read through the C API as views into SQLite's own copies of
  // the row's values, so a row costs no allocation and no copy. Each column
  // is fetched once as a value and read with the sqlite3_value_* calls,
  // which skip the per-call statement bookkeeping of sqlite3_column_*
  // (about a third of the cost of a row). SQLite calls such values
  // unprotected: safe here, since a connection serves one thread at a time
  // (and is opened without mutexes).
  sqlite3_stmt* row = statement_;
  auto value = [row](int column) { return sqlite3_column_value(row, column); };
  auto is_null = [](sqlite3_value* v) {
    return sqlite3_value_type(v) == SQLITE_NULL;
  };
  auto text = [](sqlite3_value* v) {
    const char* data = reinterpret_cast<const char*>(sqlite3_value_text(v));
    return absl::string_view(data == nullptr ? "" : data,
                             sqlite3_value_bytes(v));
  };
  auto stale_root = [this] {
    return absl::DataLossError(absl::StrCat(
        "the subtree index has no row for employee ", request_.root_id,
        " where the manager links put it; run 'pulse-schema validate' to see "
        "what is wrong and 'pulse-schema repair-index' to rebuild the index"));
  };
  while (true) {
    const int rc = sqlite3_step(row);
    if (rc == SQLITE_DONE) {
      if (by_path_ && !root_seen_) return stale_root();
      return false;
    }
    if (rc != SQLITE_ROW) {
      return store::FromStatementError(
          row, absl::StrCat("reading the subtree of ", request_.root_id));
    }
    e.id = sqlite3_column_int64(row, 0);
    e.manager_id.reset();
    if (sqlite3_value* m = value(2); !is_null(m)) {
      e.manager_id = sqlite3_value_int64(m);
    }
    if (by_path_) {
      const absl::string_view p = text(value(1));
      e.depth =
          static_cast<int32_t>((p.size() - root_path_.size()) / kComponent);
      if (!root_seen_) {
        // The range starts at the root's path, which the links above it
        // gave (perhaps without reading the root's row): the root's row
        // must be first.
        if (e.depth != 0 || e.id != request_.root_id) return stale_root();
        root_seen_ = true;
      } else if (!FollowsItsParent(p, e)) {
        return absl::DataLossError(absl::StrCat(
            "the subtree index disagrees with manager_id at employee ", e.id,
            "; run 'pulse-schema validate' to see what is wrong and "
            "'pulse-schema repair-index' to rebuild the index"));
      } else if (checked_ != nullptr && e.depth == last_depth_ + 1 &&
                 last_depth_ > 0) {
        // The last row has a report: a manager, whose path (checked from
        // the root down) later reads rooted at them can start from.
        learned_.push_back({last_id_,
                            static_cast<uint32_t>(learned_paths_.size()),
                            static_cast<uint32_t>(last_path_.size())});
        learned_paths_ += last_path_;
      }
      if (request_.max_depth > 0 && e.depth > request_.max_depth) {
        // The first row below the last level asked for: seek past the
        // subtree of its ancestor on that level (paths are hex, below 'g').
        skip_from_.assign(p.data(),
                          root_path_.size() + kComponent * request_.max_depth);
        skip_from_ += 'g';
        sqlite3_reset(row);
        BindText(row, 1, skip_from_);
        continue;
      }
      last_path_.assign(p.data(), p.size());
      last_id_ = e.id;
      last_depth_ = e.depth;
    } else {
      e.depth = sqlite3_column_int(row, 1);
      if (e.depth > 0 && e.id == request_.root_id) {
        return absl::DataLossError(absl::StrCat(
            "the manager links under employee ", request_.root_id,
            " loop back to it (a cycle through employee ",
            e.manager_id.value_or(0), "); fix manager_id in the data"));
      }
    }
    if (with_fields_) {
      auto field = [&](int column) {
        return value(kFirstFieldColumn + column);
      };
      e.full_name = text(field(kFullName));
      e.title = text(field(kTitle));
      e.email = text(field(kEmail));
      e.department_id.reset();
      if (sqlite3_value* d = field(kDepartmentId); !is_null(d)) {
        e.department_id = sqlite3_value_int64(d);
      }
      e.hire_date = text(field(kHireDate));
      sqlite3_value* notes = with_notes_ ? field(kNotes) : nullptr;
      e.notes.reset();
      if (notes != nullptr && !is_null(notes)) e.notes = text(notes);
    }
    if (request_.with_direct_reports) {
      e.direct_reports =
          sqlite3_column_int64(row, sqlite3_column_count(row) - 1);
    }
    return true;
  }
}

bool SubtreeReader::FollowsItsParent(absl::string_view path,
                                     const EmployeeView& e) const {
  // In pre-order the rows read since the parent are its descendants, so
  // the parent's path (this one without its last component) begins the
  // last row's path, and this row is at most one level below that one. By
  // induction from the root, every row read has its manager's row, in the
  // range, where the links say.
  if (e.depth < 1 || e.depth > last_depth_ + 1) return false;
  const size_t parent = path.size() - kComponent;
  return parent <= last_path_.size() &&
         std::memcmp(path.data(), last_path_.data(), parent) == 0 &&
         ComponentId(path, 1) == e.id &&
         ComponentId(path, 2) == e.manager_id.value_or(-1);
}

void SubtreeReader::ShareLearned() {
  if (learned_.empty()) return;
  const std::optional<int64_t>& generation = snapshot_->generation_;
  if (generation.has_value()) {
    checked_->Add(*generation, /*adopt=*/false, learned_, learned_paths_);
  }
  learned_.clear();
  learned_paths_.clear();
}

absl::StatusOr<bool> SubtreeReader::Next(int64_t max_nodes,
                                         const NodeSink& sink,
                                         const CancelFn& cancelled) {
  return NextViews(
      max_nodes,
      [&](const EmployeeView& v) {
        CopyView(v, &row_);
        return sink(row_);
      },
      cancelled);
}

absl::StatusOr<bool> SubtreeReader::NextViews(int64_t max_nodes,
                                              const ViewSink& sink,
                                              const CancelFn& cancelled) {
  sqlite3* handle = snapshot_->db().handle();
  const CancelFn never = [] { return false; };
  const CancelFn* check = cancelled ? &cancelled : &never;
  sqlite3_progress_handler(handle, kProgressSteps, &ProgressHandler,
                           const_cast<CancelFn*>(check));
  struct Done {
    SubtreeReader* reader;
    sqlite3* h;
    ~Done() {
      sqlite3_progress_handler(h, 0, nullptr, nullptr);
      reader->ShareLearned();
    }
  } done{this, handle};
  bool complete = false;
  for (int64_t n = 0; n < max_nodes; ++n) {
    auto row = Step(view_);
    if (!row.ok()) {
      sqlite3_reset(statement_);
      return row.status();
    }
    if (!*row) {
      complete = true;
      break;
    }
    if (request_.max_nodes > 0 && sent_ == request_.max_nodes) {
      truncated_ = true;
      complete = true;
      break;
    }
    ++sent_;
    if (!sink(view_)) {
      complete = true;
      break;
    }
  }
  if (!complete) return true;
  sqlite3_reset(statement_);
  if (sent_ == 0) {
    return absl::NotFoundError(
        absl::StrCat("no employee with id ", request_.root_id));
  }
  if ((*check)()) return absl::CancelledError("the read was cancelled");
  return false;
}

absl::Status Snapshot::Walk(const SubtreeRequest& request, bool with_fields,
                            const NodeSink& sink, const CancelFn& cancelled,
                            bool* truncated) {
  if (truncated != nullptr) *truncated = false;
  auto reader = Open(request, with_fields);
  if (!reader.ok()) return reader.status();
  auto more =
      (*reader)->Next(std::numeric_limits<int64_t>::max(), sink, cancelled);
  if (!more.ok()) return more.status();
  if (truncated != nullptr) *truncated = (*reader)->truncated();
  return absl::OkStatus();
}

absl::Status Snapshot::StreamSubtree(const SubtreeRequest& request,
                                     const NodeSink& sink,
                                     const CancelFn& cancelled,
                                     bool* truncated) {
  return Walk(request, /*with_fields=*/true, sink, cancelled, truncated);
}

absl::StatusOr<Summary> Snapshot::Summarize(int64_t root_id, int32_t max_depth,
                                            const CancelFn& cancelled) {
  SubtreeRequest check;
  check.root_id = root_id;
  check.max_depth = max_depth;
  if (absl::Status s = ValidateSubtreeRequest(check); !s.ok()) return s;
  auto facts = Facts();
  if (!facts.ok()) return facts.status();
  if (facts->has_path) return SummarizeByPath(root_id, max_depth, cancelled);
  return SummarizeByWalk(root_id, max_depth, cancelled);
}

absl::StatusOr<Summary> Snapshot::SummarizeByPath(int64_t root_id,
                                                  int32_t max_depth,
                                                  const CancelFn& cancelled) {
  // Two aggregates over the root's range of employees_org_path: its rows
  // and depth, then the manager with the most reports in it (ties to the
  // first in breadth-first order: the shortest, then the first path).
  static constexpr char kCountAndDepth[] =
      "SELECT count(*), max(length(org_path)) FROM employees INDEXED BY "
      "employees_org_path WHERE org_path >= ?1 AND org_path < ?2 AND "
      "length(org_path) <= ?3";
  static constexpr char kWidest[] =
      "SELECT manager_id, count(*) AS n, substr(org_path, 1, length(org_path) "
      "- 8) AS p FROM employees INDEXED BY employees_org_path WHERE org_path "
      "> ?1 AND org_path < ?2 AND length(org_path) <= ?3 GROUP BY manager_id "
      "ORDER BY n DESC, length(p), p LIMIT 1";
  bool checked_before = false;
  auto path = RootPath(root_id, &checked_before);
  if (!path.ok()) return path.status();
  const std::string end = *path + "g";
  const int64_t longest =
      max_depth == 0 ? std::numeric_limits<int32_t>::max()
                     : static_cast<int64_t>(path->size()) +
                           static_cast<int64_t>(kComponent) * max_depth;
  sqlite3* handle = db().handle();
  const CancelFn never = [] { return false; };
  const CancelFn* check = cancelled ? &cancelled : &never;
  sqlite3_progress_handler(handle, kProgressSteps, &ProgressHandler,
                           const_cast<CancelFn*>(check));
  struct Done {
    sqlite3* h;
    ~Done() { sqlite3_progress_handler(h, 0, nullptr, nullptr); }
  } done{handle};
  Summary summary;
  for (const char* sql : {kCountAndDepth, kWidest}) {
    auto q = lease_->Prepare(sql);
    if (!q.ok()) return q.status();
    store::Statement& query = **q;
    query.Bind(1, *path);
    query.Bind(2, end);
    query.Bind(3, longest);
    auto row = query.Step();
    if (!row.ok()) {
      return store::WithContext(
          row.status(), absl::StrCat("summarising the subtree of ", root_id));
    }
    if (*row && sql == kCountAndDepth) {
      summary.headcount = query.Int64(0);
      summary.depth = static_cast<int32_t>(
          (query.Int64(1) - static_cast<int64_t>(path->size())) /
          static_cast<int64_t>(kComponent));
    } else if (*row) {
      summary.widest_span_manager_id = query.Int64(0);
      summary.widest_span = query.Int64(1);
    }
    query.Reset();
  }
  return summary;
}

absl::StatusOr<Summary> Snapshot::SummarizeByWalk(int64_t root_id,
                                                  int32_t max_depth,
                                                  const CancelFn& cancelled) {
  // Breadth-first, children come grouped by parent, so the widest span is
  // the longest run of one manager_id: one pass, constant memory.
  Summary summary;
  int64_t run_manager = 0, run_length = 0;
  SubtreeRequest request;
  request.root_id = root_id;
  request.max_depth = max_depth;
  request.order = Order::kBreadthFirst;
  absl::Status s = Walk(
      request, /*with_fields=*/false,
      [&](Employee& e) {
        ++summary.headcount;
        if (e.depth > summary.depth) summary.depth = e.depth;
        if (e.depth == 0) return true;
        const int64_t m = e.manager_id.value_or(0);
        run_length = m == run_manager ? run_length + 1 : 1;
        run_manager = m;
        if (run_length > summary.widest_span) {
          summary.widest_span = run_length;
          summary.widest_span_manager_id = m;
        }
        return true;
      },
      cancelled, nullptr);
  if (!s.ok()) return s;
  return summary;
}

}  // namespace pulse::hierarchy
