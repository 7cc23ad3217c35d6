#ifndef PULSE_LIBS_SEED_SEED_H_
#define PULSE_LIBS_SEED_SEED_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace pulse::seed {

struct SeedOptions {
  int64_t employees = 1000;
  uint64_t seed = 1;
  // When the database already holds an organisation, succeed without
  // writing (stats all zero) instead of FAILED_PRECONDITION, so start-up
  // scripts can seed idempotently.
  bool if_empty = false;
};

struct SeedStats {
  int64_t employees = 0;
  int64_t departments = 0;
  int32_t max_depth = 0;
};

// Fills a migrated, empty database with a realistic company: employee 1 is
// the chief executive; spans of control vary (wide at the top, more
// individual contributors deeper down), so depth grows like a real
// company's (about 10 levels for a million people); departments form a tree
// headed by the VPs and directors; names and emails are unique; hire dates
// and titles follow the level. The same options give the same rows on every
// machine.
//
// Everything is written in one transaction: on any error nothing is.
// INVALID_ARGUMENT for fewer than 1 employee; FAILED_PRECONDITION when the
// database has no employees table (not migrated) or already holds
// employees or departments.
absl::StatusOr<SeedStats> SeedOrganisation(const std::string& db_path,
                                           const SeedOptions& options);

}  // namespace pulse::seed

#endif  // PULSE_LIBS_SEED_SEED_H_
