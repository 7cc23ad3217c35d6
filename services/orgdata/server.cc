#include "services/orgdata/server.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpcpp/health_check_service_interface.h"
#include "libs/common/grpc_server.h"
#include "libs/common/log.h"
#include "libs/migrate/script.h"

namespace pulse::orgdata {
namespace {

constexpr char kServiceName[] = "pulse.orgdata.v1.OrgDataService";

}  // namespace

Server::~Server() { Shutdown(absl::ZeroDuration()); }

absl::Status Server::BuildAndStart(const Options& options) {
  if (!options.migrations_dir.empty()) {
    auto scripts = migrate::LoadScripts(options.migrations_dir);
    if (!scripts.ok()) return scripts.status();
    auto graph = migrate::RevisionGraph::Build(*std::move(scripts));
    if (!graph.ok()) return graph.status();
    graph_ = std::make_unique<migrate::RevisionGraph>(*std::move(graph));
  }
  gate_ = std::make_unique<migrate::RevisionGate>(options.required_revision,
                                                  graph_.get());
  store::OpenOptions open;
  open.read_only = true;
  pool_ = std::make_unique<store::ConnectionPool>(options.db_path, open,
                                                  options.pool_size);
  monitor_ = std::make_unique<GateMonitor>(
      pool_.get(), gate_.get(), options.poll_interval,
      [this](const absl::Status& verdict) {
        if (verdict.ok()) {
          LogLine("database accepted by the revision gate: SERVING");
        } else {
          LogLine(absl::StrCat("NOT_SERVING: ", verdict.message()));
        }
        SetServing(verdict.ok());
      },
      // A new file renamed over the database: nothing may write to the
      // old one (its log is at the path) before the pool empties that log.
      [this] {
        writer_->CloseConnections();
        absl::Status moved = pool_->MoveToNewFile();
        if (moved.ok()) service_->ForgetWhatReadsLearned();
        return moved;
      });
  writer_ = std::make_unique<Writer>(pool_.get(), gate_.get());
  service_ = std::make_unique<OrgDataServiceImpl>(
      pool_.get(), gate_.get(), monitor_.get(), writer_.get(), options.service);

  auto server = StartGrpcServer(options.listen_address, options.credentials,
                                service_.get(), &port_);
  if (!server.ok()) return server.status();
  server_ = *std::move(server);
  SetServing(false);
  monitor_->Start();
  if (!options.schema_address.empty()) {
    SchemaWatcher::Options watch;
    watch.schema_address = options.schema_address;
    watch.credentials = options.schema_credentials;
    watcher_ =
        std::make_unique<SchemaWatcher>(watch, [this] { monitor_->Poke(); });
    watcher_->Start();
  }
  return absl::OkStatus();
}

void Server::SetServing(bool serving) {
  if (server_ == nullptr) return;
  pulse::SetServing(server_.get(), kServiceName, serving);
}

absl::Status Server::gate_status() const {
  return monitor_ ? monitor_->last() : absl::UnavailableError("not started");
}

void Server::Shutdown(absl::Duration grace) {
  if (server_ == nullptr) return;
  if (watcher_) watcher_->Stop();
  if (monitor_) monitor_->Stop();
  server_->GetHealthCheckService()->Shutdown();
  server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
}

void Server::Wait() {
  if (server_ != nullptr) server_->Wait();
}

}  // namespace pulse::orgdata
