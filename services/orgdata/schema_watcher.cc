#include "services/orgdata/schema_watcher.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "libs/common/grpc_util.h"
#include "libs/common/log.h"
#include "pulse/schema/v1/schema.grpc.pb.h"

namespace pulse::orgdata {

SchemaWatcher::SchemaWatcher(Options options, std::function<void()> on_change)
    : options_(std::move(options)), on_change_(std::move(on_change)) {}

SchemaWatcher::~SchemaWatcher() { Stop(); }

void SchemaWatcher::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void SchemaWatcher::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
    if (context_ != nullptr) context_->TryCancel();
  }
  if (thread_.joinable()) thread_.join();
}

bool SchemaWatcher::connected() const {
  absl::MutexLock lock(&mu_);
  return connected_;
}

void SchemaWatcher::Loop() {
  auto channel = grpc::CreateCustomChannel(
      options_.schema_address, options_.credentials, ClientChannelArguments());
  auto stub = pulse::schema::v1::SchemaService::NewStub(channel);
  absl::Duration backoff = options_.initial_backoff;
  bool ever_connected = false;
  bool loss_logged = false;
  while (true) {
    grpc::ClientContext context;
    {
      absl::MutexLock lock(&mu_);
      if (stop_) return;
      context_ = &context;
    }
    auto reader = stub->WatchRevision(&context, {});
    pulse::schema::v1::RevisionState state;
    while (reader->Read(&state)) {
      {
        absl::MutexLock lock(&mu_);
        connected_ = true;
      }
      if (!ever_connected || loss_logged) {
        LogLine(absl::StrCat("watching schema service at ",
                             options_.schema_address));
      }
      ever_connected = true;
      loss_logged = false;
      backoff = options_.initial_backoff;
      on_change_();
    }
    grpc::Status status = reader->Finish();
    bool was_connected;
    {
      absl::MutexLock lock(&mu_);
      context_ = nullptr;
      was_connected = connected_;
      connected_ = false;
      if (stop_) return;
    }
    if (was_connected) on_change_();  // The stream may have missed a change.
    if (!loss_logged) {
      LogLine(absl::StrCat(
          "no watch on schema service at ", options_.schema_address, " (",
          status.error_message(), "); retrying with backoff up to ",
          absl::FormatDuration(options_.max_backoff),
          ", reads still checked against the database"));
      loss_logged = true;
    }
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(&stop_), backoff);
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

}  // namespace pulse::orgdata
