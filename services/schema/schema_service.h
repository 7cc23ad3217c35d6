#ifndef PULSE_SERVICES_SCHEMA_SCHEMA_SERVICE_H_
#define PULSE_SERVICES_SCHEMA_SCHEMA_SERVICE_H_

#include <string>

#include "libs/migrate/migrator.h"
#include "pulse/schema/v1/schema.grpc.pb.h"
#include "services/schema/revision_monitor.h"

namespace pulse::schema {

// The gRPC adapter of pulse.schema.v1.SchemaService: checks the admin token
// on mutating calls, calls the Migrator, maps its status, writes the reply.
// Thread-safe (the Migrator opens a connection per call).
class SchemaServiceImpl final
    : public pulse::schema::v1::SchemaService::Service {
 public:
  // `migrator` and `monitor` must outlive the service.
  SchemaServiceImpl(migrate::Migrator* migrator, RevisionMonitor* monitor,
                    std::string admin_token);

  grpc::Status GetRevision(grpc::ServerContext* context,
                           const v1::GetRevisionRequest* request,
                           v1::RevisionState* response) override;
  grpc::Status ListRevisions(grpc::ServerContext* context,
                             const v1::ListRevisionsRequest* request,
                             v1::ListRevisionsResponse* response) override;
  grpc::Status GetHistory(grpc::ServerContext* context,
                          const v1::GetHistoryRequest* request,
                          v1::GetHistoryResponse* response) override;
  grpc::Status Upgrade(grpc::ServerContext* context,
                       const v1::MigrateRequest* request,
                       v1::MigrateResponse* response) override;
  grpc::Status Downgrade(grpc::ServerContext* context,
                         const v1::MigrateRequest* request,
                         v1::MigrateResponse* response) override;
  grpc::Status Stamp(grpc::ServerContext* context,
                     const v1::StampRequest* request,
                     v1::MigrateResponse* response) override;
  grpc::Status Validate(grpc::ServerContext* context,
                        const v1::ValidateRequest* request,
                        v1::ValidateResponse* response) override;
  grpc::Status WatchRevision(
      grpc::ServerContext* context, const v1::WatchRevisionRequest* request,
      grpc::ServerWriter<v1::RevisionState>* writer) override;

 private:
  grpc::Status Migrate(const char* method, grpc::ServerContext* context,
                       migrate::Direction direction, const std::string& target,
                       const migrate::RunOptions& run,
                       v1::MigrateResponse* response);
  void FillState(const migrate::RevisionState& state,
                 v1::RevisionState* out) const;

  migrate::Migrator* migrator_;
  RevisionMonitor* monitor_;
  const std::string admin_token_;
};

}  // namespace pulse::schema

#endif  // PULSE_SERVICES_SCHEMA_SCHEMA_SERVICE_H_
