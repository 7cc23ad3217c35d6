#ifndef PULSE_SERVICES_SCHEMA_SERVER_H_
#define PULSE_SERVICES_SCHEMA_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "libs/migrate/migrator.h"
#include "services/schema/revision_monitor.h"
#include "services/schema/schema_service.h"

namespace pulse::schema {

// The schema service process: the SchemaService, server reflection and the
// standard health service on one port. Health is SERVING while the
// database's revision state can be read.
class Server {
 public:
  struct Options {
    // host:port; port 0 picks a free one (read it back with port()).
    std::string listen_address = "127.0.0.1:50051";
    std::string db_path;
    std::string migrations_dir;
    // Empty disables the mutating RPCs.
    std::string admin_token;
    // Migrate to this target before serving (e.g. "head"); empty: don't.
    std::string upgrade_on_start;
    absl::Duration lock_timeout = absl::Seconds(30);
    absl::Duration poll_interval = absl::Milliseconds(100);
    // Plaintext unless set (see MakeServerCredentials).
    std::shared_ptr<grpc::ServerCredentials> credentials =
        grpc::InsecureServerCredentials();
  };

  Server() = default;
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Loads the migrations, optionally upgrades, and starts listening.
  // The Migrator's errors; UNAVAILABLE when the address cannot be bound.
  absl::Status BuildAndStart(const Options& options);
  // The bound port; valid after BuildAndStart succeeded.
  int port() const { return port_; }
  // Stops accepting calls, ends watches, and cancels what is still running
  // after `grace`. Idempotent.
  void Shutdown(absl::Duration grace);
  // Blocks until the server has shut down.
  void Wait();

 private:
  std::unique_ptr<migrate::Migrator> migrator_;
  std::unique_ptr<RevisionMonitor> monitor_;
  std::unique_ptr<SchemaServiceImpl> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace pulse::schema

#endif  // PULSE_SERVICES_SCHEMA_SERVER_H_
