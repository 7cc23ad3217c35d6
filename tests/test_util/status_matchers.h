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

#define EXPECT_OK(expr)                              \
  EXPECT_TRUE(::pulse::testing::ToStatus(expr).ok()) \
      << ::pulse::testing::ToStatus(expr).ToString()
#define ASSERT_OK(expr)                              \
  ASSERT_TRUE(::pulse::testing::ToStatus(expr).ok()) \
      << ::pulse::testing::ToStatus(expr).ToString()

#endif  // PULSE_TESTS_TEST_UTIL_STATUS_MATCHERS_H_
