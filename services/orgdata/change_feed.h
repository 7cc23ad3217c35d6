#ifndef PULSE_SERVICES_ORGDATA_CHANGE_FEED_H_
#define PULSE_SERVICES_ORGDATA_CHANGE_FEED_H_

#include <deque>
#include <memory>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "libs/store/change_log.h"
#include "libs/store/pool.h"

namespace pulse::orgdata {

class Writer;

// The one reader of the change log for all of a server's watchers
// (WatchChanges): while anyone watches, a thread checks every
// poll_interval whether another connection committed (PRAGMA data_version,
// which reads no page), reads the new rows once, keeps the newest in a
// window and tells every listener. A watcher catches up from the window,
// or from the database when it is further behind. No watchers: the thread
// sleeps. It also prunes the log (through the writer) past retention.
class ChangeFeed {
 public:
  struct Options {
    absl::Duration poll_interval = absl::Milliseconds(10);
    // Listeners are told this often even when nothing changed, so that
    // they can send checkpoints.
    absl::Duration checkpoint_interval = absl::Seconds(10);
    // Rows kept in memory for watchers to catch up from.
    size_t window_rows = 65536;
    // The log keeps this long, and at most max_rows rows (0: no pruning).
    absl::Duration retention = absl::Hours(24 * 7);
    int64_t max_rows = 10000000;
    absl::Duration prune_interval = absl::Minutes(1);
  };

  // Told when new rows (or a checkpoint tick, or a new epoch) are there.
  // Called on the feed's thread; must not block.
  class Listener {
   public:
    virtual ~Listener() = default;
    virtual void OnNews() = 0;
  };

  // `writer` (may be null: no pruning) and `pool` must outlive the feed.
  ChangeFeed(store::ConnectionPool* pool, Writer* writer, Options options);
  ~ChangeFeed();
  ChangeFeed(const ChangeFeed&) = delete;
  ChangeFeed& operator=(const ChangeFeed&) = delete;

  // After Unsubscribe returns, OnNews is not running and will not be called.
  void Subscribe(Listener* listener);
  void Unsubscribe(Listener* listener);
  // A write in this process committed: look now.
  void Poke();

  struct Batch {
    std::vector<std::shared_ptr<const store::ChangeRow>> rows;
    // The log's epoch and last seq as the feed last read them.
    uint64_t epoch = 0;
    int64_t head = 0;
  };
  // Up to `limit` rows after `seq` of the log of `epoch`, in order.
  // OUT_OF_RANGE when `epoch` is not the log's (a restore) or rows after
  // `seq` were pruned. FAILED_PRECONDITION without a change log.
  absl::StatusOr<Batch> After(uint64_t epoch, int64_t seq, int limit);

  const Options& options() const { return options_; }

 private:
  void Run();
  // Reads the rows past the window into it; true when anything changed.
  bool Refresh();
  void Prune();

  store::ConnectionPool* pool_;
  Writer* writer_;
  const Options options_;

  absl::Mutex listeners_mu_;
  absl::flat_hash_set<Listener*> listeners_ ABSL_GUARDED_BY(listeners_mu_);

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool poked_ ABSL_GUARDED_BY(mu_) = false;
  int watchers_ ABSL_GUARDED_BY(mu_) = 0;

  // The database as the feed reads it, guarded by db_mu_ (the thread and
  // watchers catching up from further back).
  absl::Mutex db_mu_;
  std::unique_ptr<store::Database> db_ ABSL_GUARDED_BY(db_mu_);
  int64_t data_version_ ABSL_GUARDED_BY(db_mu_) = -1;

  absl::Mutex window_mu_;
  std::deque<std::shared_ptr<const store::ChangeRow>> window_
      ABSL_GUARDED_BY(window_mu_);
  // Refresh has read the database once.
  bool loaded_ ABSL_GUARDED_BY(window_mu_) = false;
  bool has_log_ ABSL_GUARDED_BY(window_mu_) = false;
  uint64_t epoch_ ABSL_GUARDED_BY(window_mu_) = 0;
  int64_t head_ ABSL_GUARDED_BY(window_mu_) = 0;
  int64_t pruned_through_ ABSL_GUARDED_BY(window_mu_) = 0;

  std::thread thread_;
};

}  // namespace pulse::orgdata

#endif  // PULSE_SERVICES_ORGDATA_CHANGE_FEED_H_
