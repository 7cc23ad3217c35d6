#include "services/schema/server.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "grpcpp/health_check_service_interface.h"
#include "libs/common/grpc_server.h"
#include "libs/common/log.h"

namespace pulse::schema {
namespace {

constexpr char kServiceName[] = "pulse.schema.v1.SchemaService";

}  // namespace

Server::~Server() { Shutdown(absl::ZeroDuration()); }

absl::Status Server::BuildAndStart(const Options& options) {
  migrate::MigratorOptions migrator_options;
  migrator_options.db_path = options.db_path;
  migrator_options.lock_timeout = options.lock_timeout;
  auto migrator =
      migrate::Migrator::Create(options.migrations_dir, migrator_options);
  if (!migrator.ok()) return migrator.status();
  migrator_ = *std::move(migrator);

  if (!options.upgrade_on_start.empty()) {
    auto result = migrator_->Upgrade(options.upgrade_on_start);
    if (!result.ok()) return result.status();
    LogLine(absl::StrCat("upgraded to ", options.upgrade_on_start, ": ",
                         result->steps.size(), " revision(s) applied, now at ",
                         result->state.current.empty()
                             ? std::string("base")
                             : absl::StrJoin(result->state.current, ", ")));
  }

  // Health follows the monitor; the server pointer is set before Start().
  monitor_ = std::make_unique<RevisionMonitor>(
      migrator_.get(), options.poll_interval,
      [this](const RevisionMonitor::Snapshot& snapshot) {
        if (server_ == nullptr) return;
        const bool serving = snapshot.state.ok();
        if (!serving) {
          LogLine(absl::StrCat("revision state unreadable: ",
                               snapshot.state.status().ToString()));
        }
        SetServing(server_.get(), kServiceName, serving);
      });
  service_ = std::make_unique<SchemaServiceImpl>(
      migrator_.get(), monitor_.get(), options.admin_token);

  auto server = StartGrpcServer(options.listen_address, options.credentials,
                                service_.get(), &port_);
  if (!server.ok()) return server.status();
  server_ = *std::move(server);
  monitor_->Start();
  return absl::OkStatus();
}

void Server::Shutdown(absl::Duration grace) {
  if (server_ == nullptr) return;
  // Ending the watches first lets their handlers return, so the graceful
  // shutdown is not held up by streams that never end on their own.
  if (monitor_) monitor_->Stop();
  server_->GetHealthCheckService()->Shutdown();
  server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
}

void Server::Wait() {
  if (server_ != nullptr) server_->Wait();
}

}  // namespace pulse::schema
