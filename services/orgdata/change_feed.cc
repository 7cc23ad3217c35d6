#include "services/orgdata/change_feed.h"

#include "absl/strings/str_cat.h"
#include "libs/common/log.h"
#include "libs/store/store.h"
#include "services/orgdata/writer.h"

namespace pulse::orgdata {
namespace {

// Rows read from the database per query.
constexpr int kReadBatch = 1024;

absl::Status OutOfRange(absl::string_view why) {
  return absl::OutOfRangeError(absl::StrCat(
      why,
      ": read the subtree afresh and watch from that read's snapshot token"));
}

}  // namespace

ChangeFeed::ChangeFeed(store::ConnectionPool* pool, Writer* writer,
                       Options options)
    : pool_(pool), writer_(writer), options_(options) {
  thread_ = std::thread([this] { Run(); });
}

ChangeFeed::~ChangeFeed() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

void ChangeFeed::Subscribe(Listener* listener) {
  {
    absl::MutexLock lock(&listeners_mu_);
    listeners_.insert(listener);
  }
  absl::MutexLock lock(&mu_);
  ++watchers_;
  poked_ = true;
}

void ChangeFeed::Unsubscribe(Listener* listener) {
  {
    absl::MutexLock lock(&listeners_mu_);
    listeners_.erase(listener);
  }
  absl::MutexLock lock(&mu_);
  --watchers_;
}

void ChangeFeed::Poke() {
  absl::MutexLock lock(&mu_);
  poked_ = true;
}

void ChangeFeed::Run() {
  absl::Time next_tick = absl::Now() + options_.checkpoint_interval;
  absl::Time next_prune = absl::Now();
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      // Asleep while nobody watches (pruning aside).
      auto wake = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || poked_;
      };
      const absl::Duration wait =
          watchers_ > 0 ? options_.poll_interval
                        : std::max(absl::ZeroDuration(),
                                   std::min(options_.prune_interval,
                                            next_prune - absl::Now()));
      mu_.AwaitWithTimeout(absl::Condition(&wake), wait);
      if (stopping_) break;
      poked_ = false;
    }
    if (options_.max_rows > 0 && absl::Now() >= next_prune) {
      Prune();
      next_prune = absl::Now() + options_.prune_interval;
    }
    bool watched;
    {
      absl::MutexLock lock(&mu_);
      watched = watchers_ > 0;
    }
    if (!watched) continue;
    bool news = Refresh();
    if (absl::Now() >= next_tick) {
      news = true;
      next_tick = absl::Now() + options_.checkpoint_interval;
    }
    if (news) {
      absl::MutexLock lock(&listeners_mu_);
      for (Listener* listener : listeners_) listener->OnNews();
    }
  }
}

bool ChangeFeed::Refresh() {
  absl::MutexLock db_lock(&db_mu_);
  if (db_ == nullptr) {
    store::OpenOptions open;
    open.read_only = true;
    open.create = false;
    auto db = pool_->OpenOwn(open);
    if (!db.ok()) return false;
    db_ = *std::move(db);
    data_version_ = -1;
  }
  auto version = db_->SelectInt("PRAGMA data_version");
  if (!version.ok()) {
    db_.reset();
    return false;
  }
  if (*version == data_version_) return false;
  data_version_ = *version;
  auto txn = store::ReadTransaction::Begin(*db_);
  if (!txn.ok()) return false;
  auto state = store::ReadChangeLogState(*db_);
  if (!state.ok()) {
    LogLine(absl::StrCat("change feed: ", state.status().message()));
    data_version_ = -1;
    return false;
  }
  absl::MutexLock lock(&window_mu_);
  const bool had_log = has_log_;
  loaded_ = true;
  has_log_ = state->has_value();
  if (!has_log_) {
    window_.clear();
    return true;
  }
  const store::ChangeLogState& log = **state;
  bool news = false;
  if (!had_log || log.epoch != epoch_ || log.last_seq < head_) {
    // A new log, or a restored one: start over from its head.
    window_.clear();
    news = true;
    epoch_ = log.epoch;
    head_ = log.last_seq;
  }
  pruned_through_ = log.pruned_through;
  while (head_ < log.last_seq) {
    auto rows = store::ReadChanges(*db_, head_, kReadBatch);
    if (!rows.ok()) {
      LogLine(absl::StrCat("change feed: ", rows.status().message()));
      data_version_ = -1;
      return news;
    }
    if (rows->empty()) {
      head_ = log.last_seq;  // Pruned under us: nothing to keep.
      break;
    }
    for (store::ChangeRow& row : *rows) {
      head_ = row.seq;
      window_.push_back(
          std::make_shared<const store::ChangeRow>(std::move(row)));
    }
    news = true;
  }
  while (window_.size() > options_.window_rows) window_.pop_front();
  return news;
}

absl::StatusOr<ChangeFeed::Batch> ChangeFeed::After(uint64_t epoch, int64_t seq,
                                                    int limit) {
  Batch batch;
  {
    absl::MutexLock lock(&window_mu_);
    if (!loaded_) {
      // The thread has not read the log yet; it tells listeners when it has.
      batch.epoch = epoch;
      batch.head = seq;
      return batch;
    }
    if (!has_log_) {
      return absl::FailedPreconditionError(
          "the database has no change log (revision 2f3de1905fff): run "
          "'pulse-schema upgrade head'");
    }
    if (epoch != epoch_) {
      return OutOfRange(
          "the token is from another copy of the change log (the database "
          "was restored or replaced)");
    }
    batch.epoch = epoch_;
    batch.head = head_;
    if (seq >= head_) return batch;
    const int64_t first = window_.empty() ? head_ + 1 : window_.front()->seq;
    if (seq + 1 >= first) {
      for (auto it = window_.begin() + (seq + 1 - first);
           it != window_.end() && static_cast<int>(batch.rows.size()) < limit;
           ++it) {
        batch.rows.push_back(*it);
      }
      return batch;
    }
  }
  // Further back than the window: from the database.
  absl::MutexLock db_lock(&db_mu_);
  if (db_ == nullptr)
    return absl::UnavailableError("the change log is not open");
  auto txn = store::ReadTransaction::Begin(*db_);
  if (!txn.ok()) return txn.status();
  auto state = store::ReadChangeLogState(*db_);
  if (!state.ok()) return state.status();
  if (!state->has_value() || (*state)->epoch != epoch) {
    return OutOfRange("the change log was replaced");
  }
  if (seq < (*state)->pruned_through) {
    return OutOfRange(absl::StrCat(
        "the token is older than the change log keeps (it keeps the changes "
        "after ",
        (*state)->pruned_through, ")"));
  }
  auto rows = store::ReadChanges(*db_, seq, std::min(limit, kReadBatch));
  if (!rows.ok()) return rows.status();
  for (store::ChangeRow& row : *rows) {
    if (row.seq > batch.head) break;  // The window's thread reads those.
    batch.rows.push_back(
        std::make_shared<const store::ChangeRow>(std::move(row)));
  }
  return batch;
}

void ChangeFeed::Prune() {
  if (writer_ == nullptr) return;
  const int64_t older_than_ms =
      absl::ToUnixMillis(absl::Now() - options_.retention);
  auto pruned =
      writer_->PruneChangeLog(older_than_ms, options_.max_rows, [this] {
        absl::MutexLock lock(&mu_);
        return stopping_;
      });
  if (!pruned.ok()) {
    LogLine(absl::StrCat("change log pruning: ", pruned.status().message()));
  }
}

}  // namespace pulse::orgdata
