#include "libs/store/path.h"

#include <array>

#include "libs/store/store.h"

namespace pulse::store {

// Every streamed row's path is checked this way, so it is a table lookup
// with one test for all eight digits.
int64_t ComponentId(absl::string_view path, size_t from_end) {
  static const std::array<int8_t, 256> digits = [] {
    std::array<int8_t, 256> d;
    d.fill(-1);
    for (int c = '0'; c <= '9'; ++c) d[c] = static_cast<int8_t>(c - '0');
    for (int c = 'a'; c <= 'f'; ++c) d[c] = static_cast<int8_t>(c - 'a' + 10);
    return d;
  }();
  if (path.size() < kPathComponentChars * from_end) return -1;
  const unsigned char* c = reinterpret_cast<const unsigned char*>(
      path.data() + path.size() - kPathComponentChars * from_end);
  int64_t v = 0;
  int8_t bad = 0;
  for (size_t i = 0; i < kPathComponentChars; ++i) {
    const int8_t d = digits[c[i]];
    bad |= d;
    v = (v << 4) | (d & 0xf);
  }
  return bad < 0 ? -1 : v;
}

absl::Status ReplacePathGeneration(Database& db) {
  auto exists = TableExists(db, "org_path_generation");
  if (!exists.ok()) return exists.status();
  if (!*exists) return absl::OkStatus();
  return db.Exec("UPDATE org_path_generation SET token = random()");
}

}  // namespace pulse::store
