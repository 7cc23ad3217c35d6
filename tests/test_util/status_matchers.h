#ifndef PULSE_TESTS_TEST_UTIL_STATUS_MATCHERS_H_
#define PULSE_TESTS_TEST_UTIL_STATUS_MATCHERS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gtest/gtest.h"

namespace pulse::testing {

inline const absl::Status& ToStatus(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& ToStatus(const absl::StatusOr<T>& s) {
  return s.status();
}

}  // namespace pulse::testing

// Each evaluates `expr` once.
#define EXPECT_OK(expr)                                                   \
  do {                                                                    \
    const ::absl::Status pulse_status = ::pulse::testing::ToStatus(expr); \
    EXPECT_TRUE(pulse_status.ok()) << pulse_status.ToString();            \
  } while (false)
#define ASSERT_OK(expr)                                                   \
  do {                                                                    \
    const ::absl::Status pulse_status = ::pulse::testing::ToStatus(expr); \
    ASSERT_TRUE(pulse_status.ok()) << pulse_status.ToString();            \
  } while (false)

#endif  // PULSE_TESTS_TEST_UTIL_STATUS_MATCHERS_H_
