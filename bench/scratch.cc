#include <random>
#include <sqlite3.h>
#include <cstdio>
#include "absl/time/clock.h"
#include "libs/hierarchy/hierarchy.h"
#include "libs/migrate/migrator.h"
#include "libs/store/pool.h"
#include "libs/store/store.h"
using namespace pulse;
int main(int argc, char** argv) {
  store::ConfigureSqliteForServers();
  store::OpenOptions ro; ro.read_only = true;
  store::ConnectionPool pool(argv[1], ro, 4);
  std::vector<int64_t> managers;
  { SQLite::Database db(argv[1]); SQLite::Statement q(db, "SELECT DISTINCT manager_id FROM employees WHERE manager_id IS NOT NULL");
    while (q.executeStep()) managers.push_back(q.getColumn(0).getInt64()); }
  std::mt19937_64 rng(1);
  if (argc > 3) { auto l = pool.Acquire(); (*l)->db().exec(argv[3]); }
  const int N = 20000;
  absl::Duration t_begin, t_state, t_walk, t_end;
  int64_t nodes = 0;
  for (int i = 0; i < N; ++i) {
    absl::Time a = absl::Now();
    auto lease = pool.Acquire();
    auto snap = hierarchy::Snapshot::Begin(*std::move(lease));
    absl::Time b = absl::Now();
    auto st = migrate::ReadRevisionState((*snap)->connection());
    absl::Time c = absl::Now();
    hierarchy::SubtreeRequest r; r.root_id = managers[rng() % managers.size()]; r.max_depth = 2;
    auto rd = (*snap)->OpenSubtree(r);
    if (argc > 2) c = absl::Now();
    auto more = (*rd)->Next(1 << 30, [&](hierarchy::Employee&) { ++nodes; return true; }, {});
    if (!more.ok()) return 1;
    rd->reset();
    absl::Time d = absl::Now();
    snap->reset();
    absl::Time e = absl::Now();
    t_begin += b - a; t_state += c - b; t_walk += d - c; t_end += e - d;
  }
  { auto l = pool.Acquire(); int cur, hi; sqlite3_db_status((*l)->db().getHandle(), SQLITE_DBSTATUS_CACHE_HIT, &cur, &hi, 0); int miss; sqlite3_db_status((*l)->db().getHandle(), SQLITE_DBSTATUS_CACHE_MISS, &miss, &hi, 0); int used; sqlite3_db_status((*l)->db().getHandle(), SQLITE_DBSTATUS_CACHE_USED, &used, &hi, 0); std::printf("hit %d miss %d used %d\n", cur, miss, used); }
  std::printf("per stream us: begin %.1f state %.1f walk %.1f end %.1f nodes %.1f\n",
    absl::ToDoubleMicroseconds(t_begin)/N, absl::ToDoubleMicroseconds(t_state)/N,
    absl::ToDoubleMicroseconds(t_walk)/N, absl::ToDoubleMicroseconds(t_end)/N, double(nodes)/N);
}
