// libFuzzer target: the migration-file parser must never crash, and what it
// accepts must satisfy its own contract.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "libs/migrate/script.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view text(reinterpret_cast<const char*>(data), size);
  auto script = pulse::migrate::ParseScript(text, "fuzz.sql");
  if (script.ok()) {
    if (!pulse::migrate::IsValidRevisionId(script->id)) std::abort();
    for (const auto& parent : script->down_revisions) {
      if (!pulse::migrate::IsValidRevisionId(parent) || parent == script->id) {
        std::abort();
      }
    }
    if (script->checksum.size() != 64) std::abort();
  } else if (script.status().message().find("fuzz.sql:") ==
             absl::string_view::npos) {
    std::abort();  // Every error names the file and line.
  }
  return 0;
}
