#ifndef PULSE_TESTS_TEST_UTIL_ORG_REFERENCE_H_
#define PULSE_TESTS_TEST_UTIL_ORG_REFERENCE_H_

#include <algorithm>
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "SQLiteCpp/SQLiteCpp.h"

namespace pulse::testing {

// The whole manager tree, read plainly, to check the service against.
struct OrgTree {
  std::map<int64_t, int64_t> manager;                // id -> manager (0: none)
  std::map<int64_t, std::vector<int64_t>> children;  // sorted ascending

  static OrgTree Load(const std::string& db_path) {
    SQLite::Database db(db_path, SQLite::OPEN_READONLY);
    OrgTree t;
    SQLite::Statement q(db, "SELECT id, manager_id FROM employees ORDER BY id");
    while (q.executeStep()) {
      const int64_t id = q.getColumn(0).getInt64();
      const int64_t m = q.isColumnNull(1) ? 0 : q.getColumn(1).getInt64();
      t.manager[id] = m;
      t.children[m].push_back(id);
    }
    return t;
  }

  // (id, depth) in depth-first pre-order, siblings by ascending id.
  std::vector<std::pair<int64_t, int>> Dfs(int64_t root, int max_depth) const {
    std::vector<std::pair<int64_t, int>> out;
    std::vector<std::pair<int64_t, int>> stack = {{root, 0}};
    while (!stack.empty()) {
      auto [id, depth] = stack.back();
      stack.pop_back();
      out.emplace_back(id, depth);
      if (max_depth > 0 && depth >= max_depth) continue;
      auto it = children.find(id);
      if (it == children.end()) continue;
      for (auto c = it->second.rbegin(); c != it->second.rend(); ++c) {
        stack.emplace_back(*c, depth + 1);
      }
    }
    return out;
  }

  // (id, depth) level by level, children of one parent together in
  // ascending id, parents in the order of the level above.
  std::vector<std::pair<int64_t, int>> Bfs(int64_t root, int max_depth) const {
    std::vector<std::pair<int64_t, int>> out;
    std::deque<std::pair<int64_t, int>> queue = {{root, 0}};
    while (!queue.empty()) {
      auto [id, depth] = queue.front();
      queue.pop_front();
      out.emplace_back(id, depth);
      if (max_depth > 0 && depth >= max_depth) continue;
      auto it = children.find(id);
      if (it == children.end()) continue;
      for (int64_t c : it->second) queue.emplace_back(c, depth + 1);
    }
    return out;
  }
};

}  // namespace pulse::testing

#endif  // PULSE_TESTS_TEST_UTIL_ORG_REFERENCE_H_
