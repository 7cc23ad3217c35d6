#ifndef PULSE_SERVICES_ORGDATA_SCHEMA_WATCHER_H_
#define PULSE_SERVICES_ORGDATA_SCHEMA_WATCHER_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"

namespace pulse::orgdata {

// Follows the schema service's WatchRevision stream and calls `on_change`
// for every message, so the org-data service learns of migrations at once.
// When the stream breaks (schema service down or restarted) it reconnects
// with exponential backoff, logging the loss once and the recovery once.
class SchemaWatcher {
 public:
  struct Options {
    std::string schema_address;
    std::shared_ptr<grpc::ChannelCredentials> credentials =
        grpc::InsecureChannelCredentials();
    absl::Duration initial_backoff = absl::Milliseconds(100);
    absl::Duration max_backoff = absl::Seconds(5);
  };

  // `on_change` runs on the watcher's thread.
  SchemaWatcher(Options options, std::function<void()> on_change);
  ~SchemaWatcher();
  SchemaWatcher(const SchemaWatcher&) = delete;
  SchemaWatcher& operator=(const SchemaWatcher&) = delete;

  void Start();
  // Cancels the stream and joins the thread. Idempotent.
  void Stop();
  // True while a watch stream is established.
  bool connected() const;

 private:
  void Loop();

  const Options options_;
  std::function<void()> on_change_;
  mutable absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool connected_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* context_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::thread thread_;
};

}  // namespace pulse::orgdata

#endif  // PULSE_SERVICES_ORGDATA_SCHEMA_WATCHER_H_
