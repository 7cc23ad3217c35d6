#ifndef PULSE_LIBS_COMMON_WORKER_POOL_H_
#define PULSE_LIBS_COMMON_WORKER_POOL_H_

#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace pulse {

// A fixed set of threads running short tasks in the order they were
// scheduled. Thread-safe. The destructor runs every task already scheduled,
// then joins the threads.
class WorkerPool {
 public:
  explicit WorkerPool(int threads);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  void Schedule(std::function<void()> task);

 private:
  void Work();

  absl::Mutex mu_;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace pulse

#endif  // PULSE_LIBS_COMMON_WORKER_POOL_H_
