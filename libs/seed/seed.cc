#include "libs/seed/seed.h"

#include <algorithm>
#include <array>
#include <deque>
#include <optional>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "libs/store/change_log.h"
#include "libs/store/path.h"
#include "libs/store/store.h"

namespace pulse::seed {
namespace {

constexpr std::array<const char*, 100> kFirstNames = {
    "Ada",   "Alan",  "Alice",   "Amir",   "Ana",    "Andre",  "Anya",
    "Arjun", "Ava",   "Ben",     "Bianca", "Boris",  "Carla",  "Carlos",
    "Chen",  "Chloe", "Chris",   "Dana",   "Daniel", "Dara",   "David",
    "Diego", "Elena", "Eli",     "Emma",   "Eric",   "Eva",    "Farah",
    "Felix", "Fiona", "Gabriel", "Grace",  "Hana",   "Hannah", "Hugo",
    "Ian",   "Ines",  "Isaac",   "Ivy",    "Jack",   "Jade",   "James",
    "Jana",  "Jonas", "Julia",   "Kai",    "Kamal",  "Kara",   "Kenji",
    "Lara",  "Leo",   "Lena",    "Liam",   "Lina",   "Lucas",  "Luis",
    "Maya",  "Mei",   "Mia",     "Milan",  "Mira",   "Nadia",  "Nia",
    "Nico",  "Nina",  "Noah",    "Nora",   "Omar",   "Oscar",  "Paula",
    "Pedro", "Priya", "Quinn",   "Rafael", "Rania",  "Ravi",   "Rosa",
    "Ruth",  "Sam",   "Sara",    "Sofia",  "Sven",   "Tara",   "Theo",
    "Tomas", "Uma",   "Vera",    "Victor", "Wei",    "Yara",   "Yusuf",
    "Zara",  "Zoe",   "Aiko",    "Bruno",  "Cyrus",  "Dmitri", "Esme",
    "Femi",  "Greta"};
constexpr std::array<const char*, 40> kLastPrefixes = {
    "Ash",   "Black", "Bright", "Brook", "Cald", "Clear", "Cross", "Dun",
    "East",  "Fair",  "Fox",    "Green", "Hal",  "Hart",  "High",  "Hol",
    "Kings", "Lang",  "Lock",   "Marsh", "Mill", "Moor",  "North", "Oak",
    "Pem",   "Red",   "Ring",   "Rock",  "Rose", "Rush",  "Shel",  "Stan",
    "Stone", "Sud",   "Thorn",  "Wake",  "West", "White", "Wind",  "Wood"};
constexpr std::array<const char*, 40> kLastSuffixes = {
    "ard",   "bury", "by",     "cliffe", "combe", "dale",  "den",   "don",
    "field", "ford", "gate",   "grove",  "ham",   "hart",  "hill",  "holm",
    "hurst", "ing",  "ington", "land",   "ley",   "low",   "man",   "mere",
    "more",  "ness", "port",   "ridge",  "shaw",  "stead", "stone", "ton",
    "wall",  "ward", "well",   "wick",   "win",   "wood",  "worth", "wright"};
constexpr int64_t kLastNames = kLastPrefixes.size() * kLastSuffixes.size();
constexpr int64_t kNameSpace = kFirstNames.size() * 26 * kLastNames;
// 1000003 is prime and does not divide kNameSpace, so
// i -> i * kNameStride mod kNameSpace never repeats a name.
constexpr int64_t kNameStride = 1000003;

constexpr std::array<const char*, 10> kDepartments = {
    "Engineering", "Sales",   "Marketing", "Finance", "Operations",
    "People",      "Product", "Support",   "Legal",   "Research"};
constexpr std::array<const char*, 12> kTeams = {
    "Platform",  "Growth",         "Enterprise", "Core",
    "Insights",  "Mobile",         "Web",        "Partners",
    "Analytics", "Infrastructure", "Quality",    "Strategy"};
constexpr std::array<std::array<const char*, 3>, 10> kContributorTitles = {{
    {"Software Engineer", "Senior Software Engineer", "Staff Engineer"},
    {"Account Executive", "Sales Development Rep", "Solutions Consultant"},
    {"Marketing Specialist", "Content Strategist", "Brand Designer"},
    {"Financial Analyst", "Accountant", "Controller"},
    {"Operations Analyst", "Program Coordinator", "Logistics Specialist"},
    {"Recruiter", "People Partner", "Learning Specialist"},
    {"Product Manager", "Product Designer", "UX Researcher"},
    {"Support Engineer", "Customer Success Manager", "Support Specialist"},
    {"Counsel", "Paralegal", "Compliance Analyst"},
    {"Research Scientist", "Data Scientist", "Research Engineer"},
}};

// SplitMix64: tiny, fast and the same on every platform (unlike the
// standard library's distributions).
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform in [lo, hi].
  int64_t Range(int64_t lo, int64_t hi) {
    return lo +
           static_cast<int64_t>(Next() % static_cast<uint64_t>(hi - lo + 1));
  }
  double Unit() { return (Next() >> 11) * (1.0 / 9007199254740992.0); }

 private:
  uint64_t state_;
};

// How many direct reports a person at `depth` gets.
int64_t Span(int32_t depth, Rng& rng) {
  if (depth == 0) return rng.Range(6, 9);
  if (depth == 1) return rng.Range(4, 8);
  const double contributor = std::min(0.8, 0.3 + 0.08 * (depth - 2));
  if (rng.Unit() < contributor) return 0;
  return rng.Range(3, 12);
}

struct Person {
  int64_t parent = -1;  // Index, -1 for the root.
  int32_t depth = 0;
  int64_t reports = 0;
  int64_t department = 0;  // Department id.
  int32_t division = 0;    // Index into kDepartments.
};

// Unique names for ids 1..n, given in the order of their emails so that
// the unique email index is written in order: n positions spread over the
// sorted space of first name x initial x last name by a stride prime to
// its size (so neighbours differ in every part), then sorted (past
// kNameSpace people, the names repeat with a number, out of order).
class Names {
 public:
  Names(int64_t n, uint64_t seed) {
    for (const char* f : kFirstNames) firsts_.emplace_back(f);
    for (const char* p : kLastPrefixes) {
      for (const char* s : kLastSuffixes) lasts_.push_back(absl::StrCat(p, s));
    }
    auto by_lower = [](const std::string& a, const std::string& b) {
      return absl::AsciiStrToLower(a) < absl::AsciiStrToLower(b);
    };
    // Lower-case, the first name and its '.' sort before any longer first
    // name, and the last name and its '@' before any longer last name, so
    // the emails sort as these tuples do.
    std::sort(firsts_.begin(), firsts_.end(), by_lower);
    std::sort(lasts_.begin(), lasts_.end(), by_lower);
    const int64_t offset =
        static_cast<int64_t>(seed % static_cast<uint64_t>(kNameSpace));
    positions_.resize(std::min(n, kNameSpace));
    for (int64_t i = 0; i < static_cast<int64_t>(positions_.size()); ++i) {
      positions_[i] = (i * kNameStride + offset) % kNameSpace;
    }
    std::sort(positions_.begin(), positions_.end());
  }

  void Make(int64_t id, std::string* full_name, std::string* email) const {
    const int64_t k = id - 1;
    const int64_t q = positions_[k % kNameSpace];
    const int64_t round = k / kNameSpace;
    const std::string& first = firsts_[q / (26 * kLastNames)];
    const int initial = static_cast<int>((q / kLastNames) % 26);
    const std::string& last = lasts_[q % kLastNames];
    *full_name =
        absl::StrCat(first, " ", std::string(1, 'A' + initial), ". ", last);
    *email = absl::AsciiStrToLower(
        absl::StrCat(first, ".", std::string(1, 'a' + initial), ".", last));
    if (round > 0) {
      absl::StrAppend(full_name, " ", round + 1);
      absl::StrAppend(email, round + 1);
    }
    absl::StrAppend(email, "@pulse.example");
  }

 private:
  std::vector<std::string> firsts_;
  std::vector<std::string> lasts_;
  // The name space positions given to ids 1, 2, ... in order.
  std::vector<int64_t> positions_;
};

// One employee row, made ahead of its insert.
struct Row {
  int64_t id = 0;
  int64_t manager_id = 0;  // 0 for none.
  int64_t department_id = 0;
  std::string full_name, title, email, hire_date, org_path;
};

constexpr size_t kBatchRows = 4096;

// Batches of rows from the thread that makes them to the one that inserts
// them; at most a few batches are held at once.
class RowQueue {
 public:
  // Blocks while the queue is full. False once cancelled.
  bool Push(std::vector<Row> batch) {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](RowQueue* q) { return q->cancelled_ || q->batches_.size() < 4; },
        this));
    if (cancelled_) return false;
    batches_.push_back(std::move(batch));
    return true;
  }
  // No more batches will come.
  void Close() {
    absl::MutexLock lock(&mu_);
    closed_ = true;
  }
  // The inserting side gives up (an error): Push stops blocking.
  void Cancel() {
    absl::MutexLock lock(&mu_);
    cancelled_ = true;
  }
  // The next batch; false once the queue is closed and empty.
  bool Pop(std::vector<Row>* batch) {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](RowQueue* q) { return q->closed_ || !q->batches_.empty(); }, this));
    if (batches_.empty()) return false;
    *batch = std::move(batches_.front());
    batches_.pop_front();
    return true;
  }

 private:
  absl::Mutex mu_;
  std::deque<std::vector<Row>> batches_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
};

std::string DateFromDays(int64_t days_since_2005) {
  // Civil-from-days (Howard Hinnant), from 2005-01-01.
  int64_t z = days_since_2005 + 12784 + 719468;  // 12784: 1970 -> 2005.
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t d = doy - (153 * mp + 2) / 5 + 1;
  const int64_t m = mp < 10 ? mp + 3 : mp - 9;
  const int64_t y = yoe + era * 400 + (m <= 2);
  return absl::StrFormat("%04d-%02d-%02d", y, m, d);
}

}  // namespace

absl::StatusOr<SeedStats> SeedOrganisation(const std::string& db_path,
                                           const SeedOptions& options) {
  if (options.employees < 1) {
    return absl::InvalidArgumentError("--employees must be at least 1");
  }
  store::OpenOptions open;
  open.create = false;
  auto opened = store::Open(db_path, open);
  if (!opened.ok()) return opened.status();
  store::Database& db = **opened;
  const int64_t n = options.employees;
  Rng rng(options.seed * 0x2545f4914f6cdd1dULL + 1);

  // The shape: breadth-first, so a manager always precedes their reports.
  std::vector<Person> people(1);
  people.reserve(n);
  for (size_t i = 0;
       i < people.size() && static_cast<int64_t>(people.size()) < n; ++i) {
    int64_t span = Span(people[i].depth, rng);
    // Never run out of managers before everyone is placed.
    if (span == 0 && i + 1 == people.size()) span = rng.Range(3, 12);
    span = std::min(span, n - static_cast<int64_t>(people.size()));
    people[i].reports = span;
    for (int64_t k = 0; k < span; ++k) {
      Person p;
      p.parent = static_cast<int64_t>(i);
      p.depth = people[i].depth + 1;
      people.push_back(p);
    }
  }

  // Ids: the chief executive is 1, everyone else a shuffled 2..n, as ids in
  // a real HR system follow hiring, not the hierarchy.
  std::vector<int64_t> ids(n);
  for (int64_t i = 0; i < n; ++i) ids[i] = i + 1;
  for (int64_t i = n - 1; i > 1; --i) std::swap(ids[i], ids[rng.Range(1, i)]);

  SeedStats stats;
  stats.employees = n;
  const std::string context = absl::StrCat("seeding ", db_path);
  {
    // A modest page cache: the table and the email index are written in
    // order, so pages are finished one after another and can go to the
    // file as the load runs, and the index builds at the end sort in
    // runs that fit the CPU's caches. A cache the size of the file was
    // slower (about 4.5 s against 2.9 s for a million: one huge sort, and
    // every page written at commit).
    if (absl::Status s = db.Exec("PRAGMA cache_size = -16384"); !s.ok()) {
      return store::WithContext(s, context);
    }
    // The generator makes every reference valid by construction (a manager
    // is placed before their reports, departments before their members),
    // and the seed tests run PRAGMA foreign_key_check on its output; per-row
    // checks would cost a lookup per reference, and a full scan for each row
    // inserted before its manager.
    if (absl::Status s = db.Exec("PRAGMA foreign_keys = OFF"); !s.ok()) {
      return store::WithContext(s, context);
    }
    // Likewise every hire date is a real date by construction (the seed
    // tests check the CHECK constraint's condition on the output).
    if (absl::Status s = db.Exec("PRAGMA ignore_check_constraints = ON");
        !s.ok()) {
      return store::WithContext(s, context);
    }
    // A rollback journal writes the new pages once; the write-ahead log
    // would write them twice (log, then checkpoint). When another
    // connection has the file open the switch fails and WAL stays.
    db.Exec("PRAGMA journal_mode = DELETE").IgnoreError();
    auto txn = store::WriteTransaction::Begin(db);
    if (!txn.ok()) return txn.status();
    auto has_employees = store::TableExists(db, "employees");
    auto has_departments = store::TableExists(db, "departments");
    if (!has_employees.ok()) return has_employees.status();
    if (!has_departments.ok()) return has_departments.status();
    if (!*has_employees || !*has_departments) {
      return absl::FailedPreconditionError(
          absl::StrCat(db_path,
                       " has no employees table: migrate it first "
                       "(pulse-schema upgrade head)"));
    }
    auto counted = db.SelectInt(
        "SELECT (SELECT count(*) FROM employees) + "
        "(SELECT count(*) FROM departments)");
    if (!counted.ok()) return store::WithContext(counted.status(), context);
    const int64_t existing = *counted;
    if (existing > 0 && options.if_empty) return SeedStats{};
    if (existing > 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          db_path, " already holds an organisation (", existing,
          " employee and department rows); seed only an empty database"));
    }

    // Bulk load: the employees table's own indexes and triggers are set
    // aside and rebuilt at the end, inside this transaction, from their
    // exact definitions (so the schema is unchanged for readers and for
    // drift checks). Building an index from sorted data beats a million
    // random inserts into it, and the paths written below are what the
    // triggers would compute.
    auto suspended = store::SuspendIndexesAndTriggers(db, "employees");
    if (!suspended.ok()) return store::WithContext(suspended.status(), context);

    auto department = db.Prepare(
        "INSERT INTO departments (id, name, parent_id, "
        "head_employee_id) VALUES (?, ?, ?, ?)");
    if (!department.ok()) return department.status();
    // The first failure; the departments after it are not written.
    absl::Status departments_written;
    auto add_department = [&](const std::string& name,
                              std::optional<int64_t> parent, int64_t head) {
      const int64_t id = ++stats.departments;
      if (!departments_written.ok()) return id;
      department->Bind(1, id);
      department->Bind(2, name);
      department->Bind(3, parent);
      department->Bind(4, head);
      departments_written = department->Run();
      return id;
    };
    people[0].department = add_department("Pulse Inc.", std::nullopt, ids[0]);
    int32_t next_division = 0;
    for (int64_t i = 1; i < n; ++i) {
      Person& p = people[i];
      const Person& parent = people[p.parent];
      p.department = parent.department;
      p.division = parent.division;
      if (p.depth == 1) {
        p.division =
            next_division++ % static_cast<int32_t>(kDepartments.size());
        p.department = add_department(kDepartments[p.division],
                                      people[0].department, ids[i]);
      } else if (p.depth == 2 && p.reports > 0) {
        p.department =
            add_department(absl::StrCat(kDepartments[p.division], " ",
                                        kTeams[rng.Range(0, kTeams.size() - 1)],
                                        " ", stats.departments),
                           parent.department, ids[i]);
      }
    }

    if (!departments_written.ok()) {
      return store::WithContext(departments_written, context);
    }

    // With the subtree index (org_path), write each path directly.
    auto path_columns = db.SelectInt(
        "SELECT count(*) FROM pragma_table_info("
        "'employees') WHERE name = 'org_path'");
    if (!path_columns.ok()) {
      return store::WithContext(path_columns.status(), context);
    }
    const bool with_path = *path_columns > 0;
    std::vector<std::string> manager_paths(with_path ? n : 0);
    auto path_of = [&](int64_t i) {
      const std::string own = store::PathComponent(ids[i]);
      return people[i].parent < 0
                 ? own
                 : absl::StrCat(manager_paths[people[i].parent], own);
    };
    if (with_path) {
      for (int64_t i = 0; i < n; ++i) {
        if (people[i].reports > 0) manager_paths[i] = path_of(i);
      }
    }
    auto prepared = db.Prepare(
        with_path
            ? "INSERT INTO employees (id, manager_id, department_id, "
              "full_name, title, email, hire_date, org_path) VALUES (?, ?, "
              "?, ?, ?, ?, ?, ?)"
            : "INSERT INTO employees (id, manager_id, department_id, "
              "full_name, title, email, hire_date) VALUES (?, ?, ?, ?, ?, "
              "?, ?)");
    if (!prepared.ok()) return prepared.status();
    store::Statement& employee = *prepared;
    // Rows are made on a second thread while this one inserts them.
    Names names(n, rng.Next());
    RowQueue queue;
    std::thread producer([&] {
      // Insert by ascending id, so the table grows at its end; names are
      // given in the order of their emails, so the unique email index
      // grows at its end too.
      std::vector<int64_t> by_id(n);
      for (int64_t i = 0; i < n; ++i) by_id[ids[i] - 1] = i;
      std::vector<Row> batch;
      for (int64_t id = 1; id <= n; ++id) {
        const int64_t i = by_id[id - 1];
        const Person& p = people[i];
        Row row;
        row.id = id;
        row.manager_id = p.parent < 0 ? 0 : ids[p.parent];
        row.department_id = p.department;
        names.Make(id, &row.full_name, &row.email);
        if (p.depth == 0) {
          row.title = "Chief Executive Officer";
        } else if (p.depth == 1) {
          row.title = absl::StrCat("VP, ", kDepartments[p.division]);
        } else if (p.reports > 0) {
          row.title = p.depth == 2   ? "Director"
                      : p.depth == 3 ? "Senior Manager"
                                     : "Manager";
        } else {
          row.title = kContributorTitles[p.division][rng.Range(0, 2)];
        }
        // Leaders joined earlier: the deeper, the more recent on average.
        const int64_t latest = std::min<int64_t>(1500 + p.depth * 800, 7900);
        row.hire_date = DateFromDays(rng.Range(0, latest));
        if (with_path) row.org_path = path_of(i);
        batch.push_back(std::move(row));
        if (batch.size() == kBatchRows || id == n) {
          if (!queue.Push(std::move(batch))) break;
          batch.clear();
        }
      }
      queue.Close();
    });
    struct JoinProducer {
      RowQueue& queue;
      std::thread& thread;
      ~JoinProducer() {
        queue.Cancel();
        thread.join();
      }
    } join{queue, producer};
    for (const Person& p : people) {
      stats.max_depth = std::max(stats.max_depth, p.depth);
    }
    std::vector<Row> batch;
    while (queue.Pop(&batch)) {
      for (const Row& row : batch) {
        employee.Bind(1, row.id);
        if (row.manager_id == 0) {
          employee.BindNull(2);
        } else {
          employee.Bind(2, row.manager_id);
        }
        employee.Bind(3, row.department_id);
        employee.BindView(4, row.full_name);
        employee.BindView(5, row.title);
        employee.BindView(6, row.email);
        employee.BindView(7, row.hire_date);
        if (with_path) employee.BindView(8, row.org_path);
        absl::Status inserted = employee.Run();
        if (!inserted.ok()) return store::WithContext(inserted, context);
      }
    }
    employee.Reset();
    absl::Status s = db.Exec("PRAGMA ignore_check_constraints = OFF");
    if (s.ok()) s = store::RestoreSchema(db, *suspended);
    if (s.ok()) s = store::RefreshAfterBulkLoad(db);
    if (s.ok()) s = (*txn)->Commit();
    if (s.ok()) s = db.Exec("PRAGMA journal_mode = WAL");
    if (!s.ok()) return store::WithContext(s, context);
  }
  return stats;
}

}  // namespace pulse::seed
