#include "services/orgdata/gate_monitor.h"

#include <atomic>
#include <random>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "libs/migrate/revision_gate.h"
#include "libs/store/pool.h"
#include "tests/test_util/temp_dir.h"

namespace pulse::orgdata {
namespace {

// Verdicts of opposite kinds observed from many threads at once: whatever
// the interleaving, health ends equal to the monitor's last verdict.
TEST(GateMonitorTest, HealthEndsAtTheLastVerdictWhateverTheInterleaving) {
  testing::TempDir dir;
  store::ConnectionPool pool(dir.Join("none.db"), store::OpenOptions(), 1);
  migrate::RevisionGate gate("a1c3f0d2b7e4", nullptr);
  std::atomic<int> health{-1};
  GateMonitor monitor(&pool, &gate, absl::Hours(1),
                      [&](const absl::Status& verdict) {
                        // Widens the window between deciding and applying.
                        thread_local std::mt19937 rng(std::random_device{}());
                        absl::SleepFor(absl::Microseconds(rng() % 200));
                        health = verdict.ok() ? 1 : 0;
                      });
  const absl::Status refused =
      absl::FailedPreconditionError("a migration is in progress");
  for (int round = 0; round < 40; ++round) {
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 50; ++i) {
          monitor.Observe((i + t) % 2 == 0 ? absl::OkStatus() : refused);
        }
      });
    }
    for (auto& thread : threads) thread.join();
    ASSERT_EQ(health.load(), monitor.last().ok() ? 1 : 0) << "round " << round;
  }
}

}  // namespace
}  // namespace pulse::orgdata
