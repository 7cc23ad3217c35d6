#ifndef PULSE_SERVICES_ORGDATA_SERVER_H_
#define PULSE_SERVICES_ORGDATA_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "libs/migrate/graph.h"
#include "libs/migrate/revision_gate.h"
#include "libs/store/pool.h"
#include "services/orgdata/gate_monitor.h"
#include "services/orgdata/orgdata_service.h"
#include "services/orgdata/schema_watcher.h"

namespace pulse::orgdata {

// The schema revision this build reads: the initial Pulse schema. Its
// non-breaking descendants (employees.notes, ...) are read too; notes are
// served when the column exists.
inline constexpr char kRequiredRevision[] = "a1c3f0d2b7e4";

// The org-data service process: OrgDataService, reflection and health on
// one port. Health is SERVING only while the database passes the revision
// gate.
class Server {
 public:
  struct Options {
    std::string listen_address = "127.0.0.1:50052";
    std::string db_path;
    // Optional: the scripts, to place revisions the database's own graph
    // table does not list.
    std::string migrations_dir;
    // Optional: the schema service to watch for revision changes.
    std::string schema_address;
    std::string required_revision = kRequiredRevision;
    // How often the gate is re-checked against the database without news
    // from the schema service.
    absl::Duration poll_interval = absl::Seconds(1);
    OrgDataServiceImpl::Options service;
    // Plaintext unless set (see MakeServerCredentials).
    std::shared_ptr<grpc::ServerCredentials> credentials =
        grpc::InsecureServerCredentials();
    // For the watch on the schema service.
    std::shared_ptr<grpc::ChannelCredentials> schema_credentials =
        grpc::InsecureChannelCredentials();
    // Idle read connections kept open: enough for every stream running at
    // once, so no request pays for opening one.
    int pool_size = 64;
  };

  Server() = default;
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Starts serving even when the database is missing or refused (health
  // says NOT_SERVING until it is fixed). INVALID_ARGUMENT for bad scripts,
  // UNAVAILABLE when the address cannot be bound.
  absl::Status BuildAndStart(const Options& options);
  int port() const { return port_; }
  void Shutdown(absl::Duration grace);
  void Wait();
  // The current verdict of the gate (for tests and logs).
  absl::Status gate_status() const;
  // True while the watch on the schema service is established.
  bool watching_schema() const { return watcher_ && watcher_->connected(); }
  // See OrgDataServiceImpl.
  int active_streams() const {
    return service_ ? service_->active_streams() : 0;
  }
  int64_t nodes_read() const { return service_ ? service_->nodes_read() : 0; }
  int unary_calls() const { return service_ ? service_->unary_calls() : 0; }

 private:
  void SetServing(bool serving);

  std::unique_ptr<migrate::RevisionGraph> graph_;
  std::unique_ptr<migrate::RevisionGate> gate_;
  std::unique_ptr<store::ConnectionPool> pool_;
  std::unique_ptr<GateMonitor> monitor_;
  std::unique_ptr<Writer> writer_;
  std::unique_ptr<SchemaWatcher> watcher_;
  std::unique_ptr<OrgDataServiceImpl> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace pulse::orgdata

#endif  // PULSE_SERVICES_ORGDATA_SERVER_H_
