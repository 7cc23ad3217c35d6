#include "libs/common/log.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace pulse {
namespace {

constexpr absl::Duration kFlushDelay = absl::Milliseconds(50);
constexpr size_t kFlushBytes = 64 * 1024;

void AppendLine(absl::Time time, absl::string_view message, std::string* out) {
  absl::StrAppend(
      out, absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", time, absl::UTCTimeZone()),
      " ", message, "\n");
}

// AppendLine for the lines of one write, which mostly share their second:
// the date and time to the second is formatted once per second (time
// formatting was most of the cost of a queued line).
class LineWriter {
 public:
  void Append(absl::Time time, absl::string_view message, std::string* out) {
    const int64_t millis = absl::ToUnixMillis(time);  // Rounded down.
    const int64_t second = millis >= 0 ? millis / 1000 : (millis - 999) / 1000;
    if (second != second_ || prefix_.empty()) {
      second_ = second;
      prefix_ =
          absl::FormatTime("%Y-%m-%dT%H:%M:%S.", absl::FromUnixSeconds(second),
                           absl::UTCTimeZone());
    }
    const int64_t ms = millis - second * 1000;
    const char fraction[] = {static_cast<char>('0' + ms / 100),
                             static_cast<char>('0' + ms / 10 % 10),
                             static_cast<char>('0' + ms % 10), 'Z', ' '};
    absl::StrAppend(out, prefix_, absl::string_view(fraction, 5), message,
                    "\n");
  }

 private:
  int64_t second_ = 0;
  std::string prefix_;
};

struct Queued {
  absl::Time time;
  std::string message;
};

// The queue of LogLineSoon and the thread that empties it. Made on first
// use and never destroyed (gRPC threads may still log while statics are
// destroyed); an exit handler writes what is left.
class LogQueue {
 public:
  LogQueue() {
    std::thread([this] { Run(); }).detach();
  }

  void Add(absl::string_view message) {
    Queued line{absl::Now(), std::string(message)};
    bool full = false;
    {
      absl::MutexLock lock(&mu_);
      queued_bytes_ += line.message.size();
      queued_.push_back(std::move(line));
      full = queued_bytes_ >= kFlushBytes;
    }
    if (full) Flush();
  }

  // Formats and writes everything queued, in order, in one write.
  void Flush() {
    absl::MutexLock write_lock(&write_mu_);
    std::vector<Queued> lines;
    {
      absl::MutexLock lock(&mu_);
      lines.swap(queued_);
      queued_bytes_ = 0;
    }
    if (lines.empty()) return;
    std::string text;
    LineWriter writer;
    for (const Queued& line : lines) {
      writer.Append(line.time, line.message, &text);
    }
    std::fwrite(text.data(), 1, text.size(), stderr);
  }

  // Held while writing, so a line written at once waits for the queue
  // taken before it.
  absl::Mutex write_mu_;

 private:
  void Run() {
    while (true) {
      {
        absl::MutexLock lock(&mu_);
        auto ready = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
          return !queued_.empty();
        };
        mu_.Await(absl::Condition(&ready));
      }
      // Let more lines gather.
      absl::SleepFor(kFlushDelay);
      Flush();
    }
  }

  absl::Mutex mu_;
  std::vector<Queued> queued_ ABSL_GUARDED_BY(mu_);
  size_t queued_bytes_ ABSL_GUARDED_BY(mu_) = 0;
};

std::atomic<LogQueue*> queue_made{nullptr};

LogQueue& Queue() {
  static LogQueue* const queue = [] {
    auto* made = new LogQueue;
    queue_made.store(made);
    std::atexit(FlushLog);
    return made;
  }();
  return *queue;
}

}  // namespace

void LogLine(absl::string_view message) {
  std::string line;
  AppendLine(absl::Now(), message, &line);
  LogQueue* queue = queue_made.load();
  if (queue == nullptr) {
    // One fwrite per line: stdio locks the stream, so lines stay whole.
    std::fwrite(line.data(), 1, line.size(), stderr);
    return;
  }
  queue->Flush();
  absl::MutexLock lock(&queue->write_mu_);
  std::fwrite(line.data(), 1, line.size(), stderr);
}

void LogLineSoon(absl::string_view message) { Queue().Add(message); }

void FlushLog() {
  if (LogQueue* queue = queue_made.load()) queue->Flush();
}

}  // namespace pulse
